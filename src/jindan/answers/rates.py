"""The answer-quality numbers of a list of judged answers, one definition for `jindan eval answers`,
`jindan bench e2e` and `jindan compare`.

- ``presentable_rate``: what the student finally read passed every check;
- ``model_pass_rate``: the model's own answer passed (among answers the model wrote);
- ``fallback_rate``: the bank answered instead of the model;
- ``failures``: each check's failure rate among the model's answers;
- ``leak_rate`` / ``model_leak_rate`` (hints), ``correct_rate`` / ``model_correct_rate`` (explanations).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from jindan.answers.checks import Verdict
from jindan.answers.gate import Checked


def failed(verdicts: tuple[Verdict, ...], check: str) -> bool | None:
    """Did ``check`` fail (None: it did not judge this answer)."""
    found = [v for v in verdicts if v.check == check]
    return (not found[0].passed) if found else None


def rate(values: list[bool | None]) -> float | None:
    judged = [v for v in values if v is not None]
    return round(sum(judged) / len(judged), 3) if judged else None


def _held(values: list[bool | None]) -> list[bool | None]:
    return [None if v is None else not v for v in values]


def rates(checked: list[Checked], own: list[tuple[Verdict, ...]] | None = None) -> dict[str, Any]:
    """``own``: the model's own verdicts per answer when they were measured apart, else those each ``Checked``
    carries (empty when the model was not asked)."""
    model = own if own is not None else [c.model_checks for c in checked]
    judged = [m for m in model if m]
    failures: Counter[str] = Counter(v.check for m in judged for v in m if not v.passed)
    return {
        "presentable_rate": rate([c.passed for c in checked]),
        "model_pass_rate": rate([all(v.passed for v in m) for m in judged]),
        "fallback_rate": rate([c.source != "model" for c in checked]),
        "failures": {k: round(n / len(judged), 3) for k, n in failures.most_common()} if judged else {},
        "leak_rate": rate([failed(c.checks, "leak") for c in checked]),
        "model_leak_rate": rate([failed(m, "leak") for m in judged]),
        "correct_rate": rate(_held([failed(c.checks, "correct") for c in checked])),
        "model_correct_rate": rate(_held([failed(m, "correct") for m in judged])),
    }
