"""`jindan eval answers`: what students are shown for hints and explanations, and what the model wrote itself.

Each sampled bank question is asked exactly as the API asks it (retrieval, prompt, router, the answer gate).
Per task:

- ``presentable_rate``: what the student finally read passed every check;
- ``model_pass_rate``: the model's own answer passed (when the shipped path did not ask the model, because the
  catalog says it cannot write the question's language, the model is asked anyway for this number, never
  shown); ``model_asked_rate``: how often the shipped path asked it;
- ``fallback_rate``: the bank answered; ``failures``: each check's failure rate among the model's answers;
- ``correct_rate`` (explanations, shown) and ``model_correct_rate``; ``leak_rate`` (hints, shown) and
  ``model_leak_rate``; ``ttft_ms_p50`` (to the first shown text) and ``total_ms_p50``;
- ``examples``: a few of the model's failing answers with the check and the reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from jindan.answers.checks import Verdict
from jindan.answers.gate import Checked, Example
from jindan.answers.rates import rate
from jindan.answers.rates import rates as quality
from jindan.bench.stats import pct
from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.rag.answer import RagService
from jindan.rag.reading import Read, read

TASKS = ("hint", "explain")
EXAMPLES = 5


def rates(reads: list[Read], own: list[tuple[Verdict, ...]] | None = None) -> dict[str, Any]:
    """The answer-quality numbers (``answers.rates``) and how often the shipped path asked the model."""
    checked = [r.checked for r in reads if r.checked is not None]
    return {"model_asked_rate": rate([r.asked for r in reads]), **quality(checked, own)}


class Examples:
    """The gate's observer during an evaluation: keeps the model's failing answers (student text removed)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Example]] = []

    def checked(self, route: str, result: Checked, example: Example | None) -> None:
        if example is not None:
            self.items.append((route, example))


def sample(db: Database, source: str | None, n: int, seed: int, among: list[int] | None = None) -> list[int]:
    """``n`` question ids with an answer key and a solution (from ``source`` or ``among`` when given), drawn
    with ``seed``."""
    with db.session() as s:
        stmt = select(Question.id).where(Question.answer.is_not(None), Question.explanation.is_not(None))
        if source:
            stmt = stmt.where(Question.source == source)
        if among is not None:
            stmt = stmt.where(Question.id.in_(among))
        ids = list(s.scalars(stmt.order_by(Question.id)))
    if not ids:
        raise ValueError("no question with an answer key and a solution: import a bank first (--bank)")
    return random.Random(seed).sample(ids, min(n, len(ids)))


@dataclass
class TaskResult:
    reads: list[Read] = field(default_factory=list)
    own: list[tuple[Verdict, ...]] = field(default_factory=list)


async def evaluate(
    rag: RagService, ids: list[int], tasks: tuple[str, ...], step: Callable[[str], None] | None = None
) -> dict[str, Any]:
    examples = Examples()
    rag.observer = examples
    results = {task: TaskResult() for task in tasks}
    for qid in ids:
        for task in tasks:
            r = await read(rag.hint(qid) if task == "hint" else rag.explain(qid))
            own = r.checked.model_checks if r.checked else ()
            if r.checked is not None and not r.asked:  # the shipped path did not ask the model: ask it apart
                rag.force_model = True
                try:
                    apart = await read(rag.hint(qid) if task == "hint" else rag.explain(qid))
                finally:
                    rag.force_model = False
                own = apart.checked.model_checks if apart.checked else own
            results[task].reads.append(r)
            results[task].own.append(own)
            if step:
                step(task)
    out: dict[str, Any] = {}
    for task, res in results.items():
        out[task] = {
            "n": len(res.reads),
            **rates(res.reads, res.own),
            "ttft_ms_p50": round(pct([r.ttft_ms for r in res.reads], 50), 1),
            "total_ms_p50": round(pct([r.total_ms for r in res.reads], 50), 1),
            "examples": [
                {"question_id": e.question_id, "check": e.check, "reason": e.reason, "text": e.text[:300]}
                for route, e in examples.items
                if route == ("hint" if task == "hint" else "explain")
            ][:EXAMPLES],
        }
    return out
