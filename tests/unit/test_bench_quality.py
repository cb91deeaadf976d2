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


def test_answer_check_rates_ride_along() -> None:
    import asyncio
    from collections.abc import AsyncIterator

    from jindan.answers.checks import Verdict
    from jindan.answers.gate import Answering, Checked
    from jindan.bench.e2e import timed
    from jindan.db.models import Question
    from jindan.llm.base import Delta

    echo = Verdict("echo", False, "repeats the question")
    replaced = Checked("bank", True, (), False, (echo,), "llamacpp", "smol")

    async def events() -> AsyncIterator[object]:
        yield Answering("model", "model")
        yield Delta("The question asks")
        yield Answering("bank", "ladder", "echo: repeats the question", replaces=17, level=1)
        yield Delta("Add the two equations.")
        yield replaced

    s = asyncio.run(timed(events(), Question(body="x+y=7", answer="5"), judge=True))  # type: ignore[arg-type]
    assert s.text == "Add the two equations." and s.checked is replaced  # what the student finally reads
    passed = Checked("model", True, (), True, (Verdict("echo", True, "ok"),))
    out = summarize([s, Sample(100.0, 900.0, 5.0, 360, 40, "ok", False, False, checked=passed)])
    assert (out["presentable_rate"], out["model_pass_rate"], out["fallback_rate"]) == (1.0, 0.5, 0.5)
    assert out["model_failures"] == {"echo": 0.5}
    assert "presentable_rate" not in summarize([sample(False)])  # a path without checks says nothing
