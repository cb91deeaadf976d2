"""Diagnostic sessions under a calibration with a learned concept prior, on real PostgreSQL."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from jindan.console.demo import BANK
from jindan.db.engine import Database
from jindan.db.models import DiagnosticSession, Question
from jindan.db.repositories import UserRepository
from jindan.diagnosis import bank, sessions
from jindan.diagnosis.adaptive import Belief
from jindan.diagnosis.calibration import store
from jindan.importers.questions import import_questions

UNIT = "일차방정식"
VAR, WITHIN, ACROSS = 1.2, 0.7, 0.03


@pytest.fixture()
def student(db: Database) -> int:
    import_questions(db, BANK, source="ko-math")
    with db.session() as s:
        return UserRepository(s).sync("diag-student", "student", None)


def _concepts(db: Database) -> list[int]:
    with db.session() as s:
        return bank.load(s, UNIT, None).concepts


def _group(k: int) -> int:
    return k % 3


def _learned(db: Database) -> dict[str, Any]:
    """A calibration whose prior splits the unit's concepts into three groups: correlated within, barely across."""
    concepts = _concepts(db)
    g = np.array([_group(k) for k in range(len(concepts))])
    corr = np.where(g[:, None] == g[None, :], WITHIN, ACROSS)
    np.fill_diagonal(corr, 1.0)
    prior = {
        "concepts": concepts,
        "mean": [0.2] * len(concepts),
        "cov": (corr * VAR).tolist(),
        "answers": [100] * len(concepts),
    }
    store(db, {"concepts": {}, "questions": {}, "concept_prior": prior}, {"concept_prior": {"students": 100}})
    return prior


def _row(db: Database, sid: int) -> tuple[dict[str, Any], Belief]:
    with db.session() as s:
        row = s.get(DiagnosticSession, sid)
        assert row is not None
        return dict(row.state), Belief.from_dict(row.state["belief"])


def test_a_session_starts_from_the_learned_prior_and_moves_correlated_concepts(db: Database, student: int) -> None:
    prior = _learned(db)
    first = sessions.start(db, student, sessions.Spec(UNIT, None, max_questions=10), "student")
    state, before = _row(db, first["id"])
    assert state["prior"] == "learned"
    assert np.allclose(before.cov, prior["cov"], atol=1e-6) and np.allclose(before.mean, prior["mean"])
    targets: list[int] = state["targets"]
    with db.session() as s:
        q = s.get(Question, first["question"]["id"])
        assert q is not None
        asked = {targets.index(c.id) for c in q.concepts if c.id in targets}
    sessions.answer(db, student, first["id"], sessions.Answer(first["question"]["id"], correct=False))
    _, after = _row(db, first["id"])
    moved = before.mean - after.mean
    others = [k for k in range(len(targets)) if k not in asked]
    near = [k for k in others if any(_group(k) == _group(a) for a in asked)]
    far = [k for k in others if k not in near]
    assert near and far
    assert all(moved[k] > 0.15 for k in near), moved  # a wrong answer lowers the concepts known together with it
    assert all(abs(moved[k]) < 0.05 for k in far), moved  # and barely touches the rest


def test_under_the_learned_prior_a_session_never_repeats_and_stays_in_the_unit(db: Database, student: int) -> None:
    _learned(db)
    state = sessions.start(db, student, sessions.Spec(UNIT, None, max_questions=8, target_confidence=0.9), "student")
    asked = []
    while state["status"] == sessions.ACTIVE:
        asked.append(state["question"]["id"])
        ok = len(asked) % 2 == 0
        state = sessions.answer(db, student, state["id"], sessions.Answer(asked[-1], correct=ok))
    with db.session() as s:
        units = set(s.scalars(select(Question.subject).where(Question.id.in_(asked))))
    assert len(asked) == len(set(asked)) == 8 and units == {UNIT}
    assert state["stopped"] == "max_questions"
    assert all(0 <= c["low"] <= c["mastery"] <= c["high"] <= 1 for c in state["diagnosis"]["concepts"])


def test_without_a_learned_prior_the_fixed_spreads_start_the_session(db: Database, student: int) -> None:
    store(db, {"concepts": {}, "questions": {}}, {})
    first = sessions.start(db, student, sessions.Spec(UNIT, None), "student")
    state, belief = _row(db, first["id"])
    assert state["prior"] == "fixed"
    assert np.allclose(belief.cov, Belief.prior([0.0] * len(state["targets"])).cov)


def test_a_session_in_the_old_format_still_answers(db: Database, student: int) -> None:
    first = sessions.start(db, student, sessions.Spec(UNIT, None, max_questions=4), "student")
    with db.session() as s:  # as stored before the learned prior: no "prior" key
        row = s.get(DiagnosticSession, first["id"])
        assert row is not None
        row.state = {k: v for k, v in row.state.items() if k != "prior"}
    _learned(db)  # a newer calibration does not change a session under way
    state = sessions.answer(db, student, first["id"], sessions.Answer(first["question"]["id"], correct=True))
    assert state["asked"] == 1 and state["question"]["id"] != first["question"]["id"]
    after, belief = _row(db, first["id"])
    assert "prior" not in after
    fixed = Belief.prior([0.0] * len(after["targets"]))
    assert belief.cov[0, 0] < fixed.cov[0, 0] and belief.cov.shape == fixed.cov.shape


def test_under_the_learned_prior_a_small_scope_stops_at_the_target(db: Database, student: int) -> None:
    _learned(db)
    concepts = _concepts(db)
    pair = [concepts[0], concepts[3]]  # one group: correlated
    spec = sessions.Spec(None, pair, max_questions=30, target_confidence=0.35)
    state = sessions.start(db, student, spec, "student")
    with db.session() as s:
        available = len(bank.load(s, None, pair).questions)
    while state["status"] == sessions.ACTIVE:
        qid = state["question"]["id"]
        state = sessions.answer(db, student, state["id"], sessions.Answer(qid, correct=state["asked"] % 2 == 0))
    assert state["stopped"] == "target_confidence", (state["asked"], available)
    assert state["asked"] < available and all(c["high"] - c["low"] <= 0.65 for c in state["diagnosis"]["concepts"])
