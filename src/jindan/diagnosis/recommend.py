"""Next questions: aimed at the weakest concepts, at a predicted success of about 0.6-0.75 (hard enough to
teach, easy enough not to discourage), not already answered, spread across the weak concepts.

A question's predicted success is the student's mastery of its concept, shifted by the question's level
against the bank's middle level. When the student answered a question on that concept wrongly, candidates are
ranked by vector similarity to it first (practice on the same kind of problem).
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Concept, Question, question_concepts
from jindan.diagnosis.engine import DiagnosisResult
from jindan.diagnosis.model import MasteryModel

TARGET = (0.6, 0.75)
LEVEL_STEP = 0.35  # logit change per level above / below the middle level 3


def predicted(mastery: float, level: int | None) -> float:
    m = min(max(mastery, 1e-4), 1 - 1e-4)
    z = math.log(m / (1 - m)) - LEVEL_STEP * ((level or 3) - 3)
    return 1 / (1 + math.exp(-z))


def recommend(
    db: Database,
    model: MasteryModel,
    result: DiagnosisResult,
    history: Any,
    *,
    retriever: Any = None,
    limit: int = 5,
    per_concept: int = 2,
) -> tuple[list[dict[str, Any]], list[str]]:
    if limit <= 0 or not result.weakest:
        return [], []
    mastery = {c.concept_id: c.mastery for c in result.concepts}
    names = {c.concept_id: c.name for c in result.concepts}
    picks: list[dict[str, Any]] = []
    notes: list[str] = []
    for cid in result.weakest:
        candidates = _candidates(db, cid, history, retriever)
        if not candidates:
            notes.append(f"concept '{names.get(cid, cid)}' has no unanswered questions in the bank")
            continue
        mid = sum(TARGET) / 2
        scored = [(q, predicted(mastery[cid], q.level)) for q in candidates]
        in_band = [x for x in scored if TARGET[0] <= x[1] <= TARGET[1]]
        chosen = (in_band or sorted(scored, key=lambda x: abs(x[1] - mid)))[:per_concept]
        for q, p in chosen:
            picks.append(
                {
                    "question_id": q.id,
                    "concept_id": cid,
                    "concept": names.get(cid, str(cid)),
                    "level": q.level,
                    "predicted_success": round(p, 3),
                    "body": q.body[:300],
                }
            )
    return _interleave(picks, limit), notes


def _candidates(db: Database, concept_id: int, history: Any, retriever: Any) -> list[Question]:
    answered = set(history.answered)
    wrong = history.last_wrong.get(concept_id)
    with db.session() as s:
        if retriever is not None and wrong is not None:
            from jindan.rag.retrieve import SearchFilters

            concept = s.get(Concept, concept_id)
            keys = [concept.external_id] if concept else []
            found = retriever.similar_to(wrong, 20, SearchFilters(concepts=keys, exclude_ids=list(answered)))
            ids = [f.id for f in found]
            by_id = {q.id: q for q in s.scalars(select(Question).where(Question.id.in_(ids)))}
            rows = [by_id[i] for i in ids if i in by_id]
        else:
            rows = list(
                s.scalars(
                    select(Question)
                    .join(question_concepts, question_concepts.c.question_id == Question.id)
                    .where(question_concepts.c.concept_id == concept_id, Question.id.not_in(answered or {-1}))
                    .order_by(Question.id)
                    .limit(200)
                )
            )
        for q in rows:
            s.expunge(q)
    return rows


def _interleave(picks: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Round-robin over concepts so the first few recommendations are not all on one concept."""
    by_concept: dict[int, list[dict[str, Any]]] = {}
    for p in picks:
        by_concept.setdefault(p["concept_id"], []).append(p)
    out: list[dict[str, Any]] = []
    while len(out) < limit and any(by_concept.values()):
        for queue in by_concept.values():
            if queue and len(out) < limit:
                out.append(queue.pop(0))
    return out
