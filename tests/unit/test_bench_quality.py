"""`jindan bench e2e`'s quality columns: answers cut by the token limit are counted, so a faster setting that
makes a model repeat itself to the limit shows in the same JSON as its speed."""

from __future__ import annotations

from jindan.bench.e2e import Sample, summarize


def sample(cut: bool, leak: bool | None = False, cited: bool = False) -> Sample:
    return Sample(100.0, 900.0, 5.0, 360, 512 if cut else 40, "text", cited, leak, cut)


def test_length_leak_and_cited_rates() -> None:
    out = summarize([sample(True), sample(False, leak=True, cited=True), sample(True, leak=None), sample(False)])
    assert (out["length_rate"], out["cited_rate"]) == (0.5, 0.25)
    assert (out["leak_rate"], out["leak_judged"]) == (round(1 / 3, 3), 3)
    assert summarize([])["length_rate"] is None
