"""What a diagnostic session may ask: the questions of a unit (a bank ``subject``) or of a list of concepts, each
as an :class:`~jindan.diagnosis.adaptive.Item` over the session's concepts with its difficulty.

Difficulty comes from the active calibration (``jindan diagnosis calibrate``) where a question has enough
answers, else from its level against the middle level 3 (the step :mod:`jindan.diagnosis.recommend` uses), on top
of its concepts' calibrated difficulty. Prerequisites: the bank records each question's school grade (중1 ... 고3);
a concept first taught in an earlier grade than another concept of the session comes first. The active calibration
may also hold a learned concept prior (means and covariance), which a new session starts from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jindan.db.models import Concept, DiagnosticCalibration, Question, question_concepts
from jindan.diagnosis.adaptive import Item
from jindan.diagnosis.recommend import LEVEL_STEP

GRADES = ("초1", "초2", "초3", "초4", "초5", "초6", "중1", "중2", "중3", "고1", "고2", "고3")
MAX_QUESTIONS_IN_SCOPE = 2000


@dataclass(frozen=True)
class BankQuestion:
    id: int
    level: int | None
    grade: str | None
    concepts: tuple[int, ...]  # the session's concepts this question is about


@dataclass
class Bank:
    concepts: list[int]  # the session's concepts: belief targets in this order
    names: dict[int, str]
    questions: dict[int, BankQuestion]
    offsets: dict[int, float]  # question id -> logit offset (harder > 0)
    discrimination: dict[int, float]
    prior: dict[int, float]  # concept id -> prior mean logit
    calibration: str | None
    learned: dict[str, Any] | None = None  # the calibration's concept prior (:mod:`jindan.diagnosis.concept_prior`)
    keyed: frozenset[int] = frozenset()  # questions with an answer key (a typed or chosen answer can be graded)

    def askable(self, asked: set[int]) -> list[int]:
        """Questions still to ask: those a student's own answer can be graded on (an answer key), unless the
        scope has none (then the platform sends the verdict, ``correct``)."""
        left = [q for q in self.questions if q not in asked]
        return [q for q in left if q in self.keyed] if self.keyed else left

    def item(self, qid: int) -> Item:
        q = self.questions[qid]
        a = self.discrimination.get(qid, 1.0)
        pos = {c: k for k, c in enumerate(self.concepts)}
        w = a / len(q.concepts)
        return Item(qid, tuple((pos[c], w) for c in q.concepts), a * self.offsets.get(qid, 0.0))

    def within(self, targets: Sequence[int]) -> Bank:
        """The bank as a session that started on ``targets`` sees it: its concepts in their order (the belief's),
        each question about those of them it covers; questions added since on new concepts only are left out."""
        keep = set(targets)
        questions = {}
        for qid, q in self.questions.items():
            if covered := tuple(c for c in q.concepts if c in keep):
                questions[qid] = BankQuestion(q.id, q.level, q.grade, covered)
        prior = {c: self.prior.get(c, 0.0) for c in targets}
        return replace(self, concepts=list(targets), questions=questions, prior=prior)

    def prerequisites(self) -> dict[int, set[int]]:
        """concept -> concepts of the session first met in an earlier grade."""
        first: dict[int, int] = {}
        for q in self.questions.values():
            g = GRADES.index(q.grade) if q.grade in GRADES else None
            for c in q.concepts:
                if g is not None:
                    first[c] = min(first.get(c, g), g)
        return {c: {d for d in first if first[d] < first[c]} for c in self.concepts if c in first}


def active_calibration(s: Session) -> tuple[str | None, dict[str, Any]]:
    row = s.scalars(select(DiagnosticCalibration).where(DiagnosticCalibration.active)).first()
    return (row.version, row.params) if row else (None, {})


def load(s: Session, unit: str | None, concept_ids: Sequence[int] | None) -> Bank:
    """The bank of a scope; LookupError when nothing in the bank matches it."""
    has_key = Question.answer.is_not(None) & (Question.answer != "")
    columns = (Question.id, Question.level, Question.grade, question_concepts.c.concept_id, has_key)
    q = select(*columns).join(question_concepts, question_concepts.c.question_id == Question.id)
    if unit is not None:
        q = q.where(Question.subject == unit)
    if concept_ids:
        q = q.where(question_concepts.c.concept_id.in_(list(concept_ids)))
    rows = s.execute(q.order_by(Question.id).limit(MAX_QUESTIONS_IN_SCOPE * 3)).tuples().all()
    if not rows:
        what = f"unit {unit!r}" if unit is not None else f"concepts {list(concept_ids or [])[:20]}"
        raise LookupError(f"no questions in the bank for {what}")
    by_q: dict[int, tuple[int | None, str | None, list[int]]] = {}
    keyed = frozenset(qid for qid, *_, has_key in rows if has_key)
    for qid, level, grade, cid, _ in rows:
        by_q.setdefault(qid, (level, grade, []))[2].append(cid)
    concepts = sorted({c for _, _, cs in by_q.values() for c in cs})
    names = {i: n for i, n in s.execute(select(Concept.id, Concept.name).where(Concept.id.in_(concepts))).tuples()}
    version, params = active_calibration(s)
    qcal: dict[str, dict[str, Any]] = params.get("questions", {})
    ccal: dict[str, dict[str, Any]] = params.get("concepts", {})
    prior = {c: -float(ccal[str(c)]["difficulty"]) if str(c) in ccal else 0.0 for c in concepts}
    questions, offsets, disc = {}, {}, {}
    for qid, (level, grade, cs) in by_q.items():
        questions[qid] = BankQuestion(qid, level, grade, tuple(sorted(set(cs))))
        base = sum(-prior[c] for c in cs) / len(cs)
        cal = qcal.get(str(qid))
        if cal and cal.get("source") == "fit":
            offsets[qid] = float(cal["difficulty"]) - base
            disc[qid] = float(cal.get("discrimination", 1.0))
        else:
            offsets[qid] = LEVEL_STEP * ((level or 3) - 3)
    return Bank(concepts, names, questions, offsets, disc, prior, version, params.get("concept_prior"), keyed)
