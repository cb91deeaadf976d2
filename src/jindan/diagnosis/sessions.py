"""Adaptive diagnostic sessions (진단평가) in PostgreSQL: start, answer, resume, finish with a diagnosis.

A session's row holds everything it needs to go on (the belief, the questions asked, the pending one), so a
restart, another replica or a second device resumes it where it stopped. Each answer is also recorded as an
ordinary response (attempt ``diagnostic-<id>``), so the regular diagnosis sees it. Answering locks the row: two
answers to one question cannot both count.

A session starts from the active calibration's learned concept prior when it has one (``state["prior"]`` says
``"learned"``; older sessions, without the key, started from the fixed spreads) and asks the question whose answer
is expected to shrink the uncertainty of the concepts not yet settled the most, as the replay benchmark's adaptive
policy does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jindan.answers.grading import same_answer
from jindan.db.engine import Database
from jindan.db.models import DiagnosticSession, Question, Role, SchoolClass, User, class_members
from jindan.db.repositories import ResponseRepository
from jindan.diagnosis import adaptive, bank, concept_prior
from jindan.diagnosis.report import diagnosis_of, estimates

ACTIVE, DONE = "active", "done"


class SessionConflict(Exception):
    """The request does not fit the session's state (HTTP 409); the message says what would."""


class SessionClosed(SessionConflict):
    """The session has finished: its diagnosis is final."""


@dataclass(frozen=True)
class Spec:
    unit: str | None
    concepts: list[int] | None
    max_questions: int = 15
    target_confidence: float = 0.5


@dataclass(frozen=True)
class Answer:
    question_id: int
    answer: str | None = None
    correct: bool | None = None
    time_taken_ms: int | None = None


def _scope_bank(s: Session, row: DiagnosticSession) -> bank.Bank:
    """The session's bank as it is now, over the concepts it started with (the belief's targets): questions
    imported or removed since change what may be asked next, never the belief's shape."""
    targets: list[int] = row.state["targets"]
    try:
        now = bank.load(s, row.scope.get("unit"), row.scope.get("concepts"))
    except LookupError:  # every question of the scope is gone: nothing more to ask
        return bank.Bank(targets, {}, {}, {}, {}, {c: 0.0 for c in targets}, row.state.get("calibration"))
    return now.within(targets)


def _scope(spec: Spec) -> dict[str, Any]:
    """The scope as stored and compared: a concept list in one order, each concept once."""
    return {"unit": spec.unit, "concepts": sorted(set(spec.concepts)) if spec.concepts else spec.concepts}


def _next(row: DiagnosticSession, b: bank.Bank, belief: adaptive.Belief) -> int | None:
    asked = {a["question_id"] for a in row.state["asked"]}
    candidates = [b.item(qid) for qid in b.askable(asked)]
    if not candidates:
        return None
    pos = {c: k for k, c in enumerate(b.concepts)}
    unsettled = {c for c in b.concepts if belief.estimate(pos[c]).confidence < row.target_confidence}
    waiting = {pos[c] for c, pre in b.prerequisites().items() if pre & unsettled}
    weights = adaptive.still_to_know(belief, row.target_confidence)
    pick = adaptive.choose(belief, candidates, weights=weights, waiting=waiting)
    return pick.key if pick else None


def _finish(s: Session, row: DiagnosticSession, b: bank.Bank, belief: adaptive.Belief, reason: str) -> None:
    row.status = DONE
    row.state = {**row.state, "pending": None, "stopped": reason}
    row.result = diagnosis_of(s, row, b, belief)
    row.finished_at = datetime.now(UTC)


def _new(
    s: Session, user_id: int, spec: Spec, started_by: str, class_id: int | None, b: bank.Bank | None = None
) -> DiagnosticSession:
    """A session over ``b`` (the scope's bank, read here when not given: a class start reads it once)."""
    b = b or bank.load(s, spec.unit, spec.concepts)
    belief, learned = concept_prior.belief(b.concepts, [b.prior[c] for c in b.concepts], b.learned)
    row = DiagnosticSession(
        user_id=user_id,
        class_id=class_id,
        started_by=started_by,
        scope=_scope(spec),
        max_questions=spec.max_questions,
        target_confidence=spec.target_confidence,
        status=ACTIVE,
        state={
            "targets": b.concepts,
            "belief": belief.to_dict(),
            "asked": [],
            "calibration": b.calibration,
            "prior": "learned" if learned else "fixed",
        },
    )
    row.state["pending"] = _next(row, b, belief)
    s.add(row)
    s.flush()
    return row


def start(db: Database, user_id: int, spec: Spec, started_by: str) -> dict[str, Any]:
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError(f"student {user_id} not found")
        if user.role != Role.student:
            raise ValueError(f"user {user_id} is a {user.role.value}, not a student: a diagnostic test is a student's")
        row = _new(s, user_id, spec, started_by, None)
        return view(s, row)


def start_class(db: Database, class_id: int, spec: Spec, started_by: str) -> dict[str, Any]:
    """A session for every student of the class; a student with an active session of the same scope keeps it."""
    with db.session() as s:
        klass = s.get(SchoolClass, class_id, with_for_update=True)  # two starts for one class: one at a time
        if klass is None:
            raise LookupError(f"class {class_id} not found")
        b = bank.load(s, spec.unit, spec.concepts)  # an unknown unit is a 404 even for a class without students
        members = s.scalars(
            select(class_members.c.user_id)
            .join(User, User.id == class_members.c.user_id)
            .where(class_members.c.class_id == class_id, User.role == Role.student)
            .order_by(class_members.c.user_id)
        ).all()
        scope = _scope(spec)
        out = []
        for uid in members:
            row = s.scalars(
                select(DiagnosticSession).where(
                    DiagnosticSession.user_id == uid,
                    DiagnosticSession.status == ACTIVE,
                    DiagnosticSession.scope == scope,
                )
            ).first() or _new(s, uid, spec, started_by, class_id, b)
            out.append({"user_id": uid, "session_id": row.id, "status": row.status})
        return {"class_id": class_id, "sessions": out}


def _get(s: Session, user_id: int, session_id: int, *, lock: bool = False) -> DiagnosticSession:
    q = select(DiagnosticSession).where(DiagnosticSession.id == session_id, DiagnosticSession.user_id == user_id)
    row = s.scalars(q.with_for_update() if lock else q).first()
    if row is None:
        raise LookupError(f"diagnostic session {session_id} of student {user_id} not found")
    return row


def _grade(s: Session, qid: int, a: Answer) -> bool:
    key = s.scalar(select(Question.answer).where(Question.id == qid))
    if a.answer is not None and key:
        return same_answer(a.answer, key)
    if a.correct is not None:
        return a.correct
    if a.answer is None:
        raise ValueError("send `answer` (graded against the bank's key) or `correct`")
    raise SessionConflict(f"question {qid} has no answer key to grade against: send `correct` as well")


def answer(db: Database, user_id: int, session_id: int, a: Answer) -> dict[str, Any]:
    with db.session() as s:
        row = _get(s, user_id, session_id, lock=True)
        if row.status != ACTIVE:
            raise SessionClosed(f"diagnostic session {session_id} has finished; start a new one")
        pending = row.state.get("pending")
        if a.question_id != pending:
            raise SessionConflict(f"question {a.question_id} is not the one asked: answer question {pending}")
        ok = _grade(s, a.question_id, a)
        ResponseRepository(s).record(
            user_id,
            f"diagnostic-{row.id}",
            [
                {
                    "question_id": a.question_id,
                    "chosen_answer": a.answer,
                    "correct": ok,
                    "time_taken_ms": a.time_taken_ms,
                }
            ],
        )
        b = _scope_bank(s, row)
        belief = adaptive.Belief.from_dict(row.state["belief"])
        if a.question_id in b.questions:
            belief.update(b.item(a.question_id), ok)
        asked = [*row.state["asked"], {"question_id": a.question_id, "correct": ok}]
        row.state = {**row.state, "belief": belief.to_dict(), "asked": asked}
        row.updated_at = datetime.now(UTC)
        pos = range(len(b.concepts))
        if len(asked) >= row.max_questions:
            _finish(s, row, b, belief, "max_questions")
        elif adaptive.settled(belief, pos, row.target_confidence):
            _finish(s, row, b, belief, "target_confidence")
        else:
            nxt = _next(row, b, belief)
            if nxt is None:
                _finish(s, row, b, belief, "no_questions_left")
            else:
                row.state = {**row.state, "pending": nxt}
        out = view(s, row)
        out["correct"] = ok
        return out


def get(db: Database, user_id: int, session_id: int) -> dict[str, Any]:
    with db.session() as s:
        return view(s, _get(s, user_id, session_id))


def save_narrative(db: Database, user_id: int, session_id: int, narrative: dict[str, Any]) -> None:
    with db.session() as s:
        row = _get(s, user_id, session_id, lock=True)
        if row.result is not None:
            row.result = {**row.result, "narrative": narrative}


def list_sessions(db: Database, user_id: int) -> list[dict[str, Any]]:
    with db.session() as s:
        if s.get(User, user_id) is None:
            raise LookupError(f"student {user_id} not found")
        rows = s.scalars(
            select(DiagnosticSession).where(DiagnosticSession.user_id == user_id).order_by(DiagnosticSession.id.desc())
        ).all()
        return [summary(r) for r in rows]


def class_progress(db: Database, class_id: int) -> dict[str, Any]:
    """Every student of the class with their latest session: who has finished."""
    with db.session() as s:
        klass = s.get(SchoolClass, class_id)
        if klass is None:
            raise LookupError(f"class {class_id} not found")
        students = s.execute(
            select(User.id, User.name, User.external_id)
            .join(class_members, class_members.c.user_id == User.id)
            .where(class_members.c.class_id == class_id)
            .order_by(User.id)
        ).tuples()
        out = []
        for uid, name, ext in students:
            last = s.scalars(
                select(DiagnosticSession)
                .where(DiagnosticSession.user_id == uid)
                .order_by(DiagnosticSession.id.desc())
                .limit(1)
            ).first()
            out.append({"id": uid, "name": name or ext, "session": summary(last) if last else None})
        return {"class": {"id": class_id, "name": klass.name}, "students": out}


def summary(row: DiagnosticSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "unit": row.scope.get("unit"),
        "concepts": row.scope.get("concepts"),
        "asked": len(row.state["asked"]),
        "max_questions": row.max_questions,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
    }


def view(s: Session, row: DiagnosticSession) -> dict[str, Any]:
    """The session as a student sees it: the pending question (never its answer), estimates so far."""
    pending = row.state.get("pending")
    question = None
    if pending is not None:
        q = s.get(Question, pending)
        if q is not None:
            question = {
                "id": q.id,
                "body": q.body,
                "choices": q.choices,
                "level": q.level,
                "grade": q.grade,
                "subject": q.subject,
                "concepts": [c.name for c in q.concepts],
            }
    return {
        **summary(row),
        "user_id": row.user_id,
        "class_id": row.class_id,
        "target_confidence": row.target_confidence,
        "question": question,
        "estimates": estimates(s, row),
        "diagnosis": row.result,
        "stopped": row.state.get("stopped"),
    }
