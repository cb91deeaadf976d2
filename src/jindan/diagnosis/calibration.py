"""`jindan diagnosis calibrate`: question and concept difficulties from the stored responses, with their
standard errors, stored as the active calibration the diagnostic sessions read.

Each student's *first* answer per question (and per concept) is used: the state before practice, which is what a
diagnostic test measures. Items with at least ``min_2pl`` answers also get a discrimination (2PL); questions with
fewer than ``min_answers`` answers fall back to their concept's difficulty plus their level's step
(:data:`jindan.diagnosis.recommend.LEVEL_STEP` per level above the middle level 3). The same first answers per
concept also fit the learned concept prior (:mod:`jindan.diagnosis.concept_prior`: each concept's mean and the
covariance between the bank's concepts), stored as ``params["concept_prior"]``, so a session's answer on one
concept moves the concepts students tend to know together with it.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import select, text, update

from jindan.db.engine import Database
from jindan.db.models import DiagnosticCalibration, Question, question_concepts
from jindan.diagnosis import concept_prior
from jindan.diagnosis.irt import ItemFit, fit_2pl
from jindan.diagnosis.recommend import LEVEL_STEP

LEVEL_SE = 0.5  # how far a question's difficulty may sit from its level's step (logits), for the fallback's SE
FIRST = (
    "SELECT DISTINCT ON (user_id, {col}) user_id, {col}, correct FROM responses WHERE {col} IS NOT NULL "
    "ORDER BY user_id, {col}, answered_at, attempt_id, seq"
)


def _first_answers(db: Database, col: str) -> list[tuple[int, int, bool]]:
    with db.engine.connect() as c:
        return [(int(u), int(i), bool(y)) for u, i, y in c.execute(text(FIRST.format(col=col)))]


def _fit(rows: list[tuple[int, int, bool]], min_answers: int, min_2pl: int) -> dict[int, dict[str, Any]]:
    if not rows:
        return {}
    users = {u: n for n, u in enumerate(sorted({r[0] for r in rows}))}
    items = sorted({r[1] for r in rows})
    pos = {i: n for n, i in enumerate(items)}
    fit: ItemFit = fit_2pl(
        np.array([users[r[0]] for r in rows], dtype=np.int64),
        np.array([pos[r[1]] for r in rows], dtype=np.int64),
        np.array([1.0 if r[2] else 0.0 for r in rows]),
        len(users),
        len(items),
        min_2pl=min_2pl,
    )
    out = {}
    for i, n in pos.items():
        a_se = float(fit.discrimination_se[n])
        out[i] = {
            "difficulty": round(float(fit.difficulty[n]), 4),
            "se": round(float(fit.difficulty_se[n]), 4),
            "discrimination": round(float(fit.discrimination[n]), 4),
            "discrimination_se": None if math.isnan(a_se) else round(a_se, 4),
            "answers": int(fit.answers[n]),
            "source": "fit" if fit.answers[n] >= min_answers else "few",
        }
    return out


def calibrate(
    db: Database,
    *,
    min_answers: int = 30,
    min_2pl: int = 200,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(params, fit_info); raises ValueError when there are no responses at all."""
    start = time.perf_counter()
    say = progress or (lambda _: None)
    say("reading first answers per concept")
    concept_rows = _first_answers(db, "concept_id")
    if not concept_rows:
        raise ValueError("no responses in the database: run `jindan import responses FILE` first")
    say(f"fitting {len(concept_rows):,} first answers per concept")
    concepts = _fit(concept_rows, min_answers, min_2pl)
    say("reading first answers per question")
    question_rows = _first_answers(db, "question_id")
    say(f"fitting {len(question_rows):,} first answers per question")
    fitted = _fit(question_rows, min_answers, min_2pl)
    with db.session() as s:
        bank = s.execute(
            select(Question.id, Question.level, question_concepts.c.concept_id).outerjoin(
                question_concepts, question_concepts.c.question_id == Question.id
            )
        ).tuples()
        links: dict[int, tuple[int | None, list[int]]] = {}
        for qid, level, cid in bank:
            links.setdefault(qid, (level, []))[1].extend([cid] if cid is not None else [])
    questions: dict[str, dict[str, Any]] = {}
    for qid, (level, cids) in links.items():
        own = fitted.get(qid)
        if own and own["source"] == "fit":
            questions[str(qid)] = own
            continue
        known = [concepts[c] for c in cids if c in concepts]
        base = sum(c["difficulty"] for c in known) / len(known) if known else 0.0
        base_se = math.sqrt(sum(c["se"] ** 2 for c in known) / len(known)) if known else 3.0
        questions[str(qid)] = {
            "difficulty": round(base + LEVEL_STEP * ((level or 3) - 3), 4),
            "se": round(math.sqrt(base_se**2 + LEVEL_SE**2), 4),
            "discrimination": 1.0,
            "discrimination_se": None,
            "answers": own["answers"] if own else 0,
            "source": "level",
        }
    say("fitting the concept prior (correlations between the bank's concepts)")
    bank_concepts = sorted({c for _, cids in links.values() for c in cids})
    learned, learned_info = concept_prior.fit(concept_rows, bank_concepts)
    info = {
        "concept_answers": len(concept_rows),
        "question_answers": len(question_rows),
        "concepts": len(concepts),
        "questions_fitted": sum(q["source"] == "fit" for q in questions.values()),
        "questions_from_level": sum(q["source"] == "level" for q in questions.values()),
        "two_pl": sum(q["discrimination_se"] is not None for q in [*questions.values(), *concepts.values()]),
        "min_answers": min_answers,
        "min_2pl": min_2pl,
        "concept_prior": learned_info,
        "fit_s": round(time.perf_counter() - start, 2),
    }
    params: dict[str, Any] = {"concepts": {str(c): v for c, v in concepts.items()}, "questions": questions}
    if learned is not None:
        params["concept_prior"] = learned
    return params, info


def store(db: Database, params: dict[str, Any], info: dict[str, Any]) -> str:
    version = f"irt-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    with db.session() as s:
        s.execute(update(DiagnosticCalibration).values(active=False))
        s.add(DiagnosticCalibration(version=version, params=params, fit_info=info, active=True))
    return version
