"""`jindan bench context`: what each part of the retrieved context costs a hint or an explanation, and what it
adds to the answer.

Every variant changes one thing in a task's ``Fit`` (how many retrieved items, how much of their solutions) and
runs the same sampled bank questions cold (no cached state), so the prompt is read whole each time. Cost:
prompt tokens and time to the first token. What it adds: for an explanation, ``correct_rate`` (its final answer
equals the bank's key, ``reports.grading.correct``); for a hint, ``leak_rate`` (it gives the key away: context
that helps a hint must not do that); for both, ``cited_rate`` and ``length_rate`` (stopped by the token limit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from jindan.answers.grading import correct
from jindan.bench.e2e import ANSWERS, Sample, forget, isolated, sample_questions, summarize, timed
from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.llm.base import ProviderError
from jindan.llm.router import Router
from jindan.rag.answer import RagService
from jindan.rag.prompt import FITS, Fit


def variants() -> list[tuple[str, str, Fit]]:
    """(task, name, fit): the shipped fit of each task and one change at a time."""
    hint, explain = FITS["hint"], FITS["explain"]
    return [
        ("hint", "no context", replace(hint, items=0)),
        ("hint", "1 item", replace(hint, items=1)),
        ("hint", "2 items", replace(hint, items=2)),
        ("hint", "3 items (default)", hint),
        ("hint", "3 items, no solutions", replace(hint, solution_chars=0)),
        ("hint", "3 items, 500-char solutions", replace(hint, solution_chars=500, tokens=hint.tokens + 400)),
        ("explain", "no context", replace(explain, items=0)),
        ("explain", "2 items", replace(explain, items=2)),
        ("explain", "4 items (default)", explain),
        ("explain", "4 items, no solutions", replace(explain, solution_chars=0)),
        ("explain", "4 items, 300-char solutions", replace(explain, solution_chars=300)),
    ]


def _row(
    task: str, name: str, fit: Fit, samples: list[Sample], right: list[bool], items: list[int], failed: int = 0
) -> dict[str, Any]:
    out = summarize(samples, failed)
    out.update(task=task, variant=name, items=fit.items, solution_chars=fit.solution_chars)
    out["context_items_p50"] = sorted(items)[len(items) // 2] if items else 0
    if task == "explain":
        out["correct_rate"] = round(sum(right) / len(right), 3) if right else None
        for hint_only in ("leak_rate", "leak_judged"):
            del out[hint_only]
    return out


def run(
    settings: Any,
    db: Database,
    retriever: Any,
    router: Router,
    *,
    questions: int = 8,
    seed: int = 0,
    only: str | None = None,
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    picked = sample_questions(db, questions, seed)
    rag = RagService(settings, db, retriever, router)
    chosen = [v for v in variants() if only in (None, v[0])]

    async def one(task: str, q: Question) -> tuple[Sample | None, int]:
        student = ANSWERS[0] if task == "hint" else None
        p = await rag.build_prompt(task, q.id, student)
        forget(router, p.messages)  # cold: the whole prompt is read
        events = rag.hint(q.id, student) if task == "hint" else rag.explain(q.id)
        try:
            return await timed(events, q, judge=task == "hint"), len(p.citations)
        except ProviderError:  # counted, not retried (a busy queue or a timeout is part of the result)
            return None, len(p.citations)

    async def body() -> list[dict[str, Any]]:
        await timed(rag.hint(picked[0].id, "warm-up"), picked[0], judge=False)
        rows = []
        for task, name, fit in chosen:
            rag.fits[task] = fit
            samples, right, items, failed = [], [], [], 0
            for q in picked:
                sample, n = await one(task, q)
                items.append(n)
                if sample is None:
                    failed += 1
                else:
                    samples.append(sample)
                    if task == "explain" and (verdict := correct(sample.text, q.answer)) is not None:
                        right.append(verdict)
                if progress:
                    progress()
            rows.append(_row(task, name, fit, samples, right, items, failed))
        return rows

    rows, _ = isolated(router, body)
    return {
        "model": f"{settings.llm.provider}/{settings.llm.model}",
        "questions": len(picked),
        "seed": seed,
        "variants": rows,
    }
