"""A test that needs a data file or the packaged model: skipped on a developer's machine without it, a
failure under CI (``CI=true``), so a green CI run means every test ran."""

from __future__ import annotations

import pytest
from tests.conftest import shared_file


def test_a_missing_data_file_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"missing component: shared data file .*nope\.jsonl is absent"):
        shared_file("nope.jsonl")


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_a_missing_data_file_fails_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=r"missing component: .*nope\.jsonl.*CI=true"):
        shared_file("nope.jsonl")


def test_present_files_are_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert shared_file("math/problems.jsonl").name == "problems.jsonl"
