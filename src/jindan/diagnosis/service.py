"""Diagnosis against the database: fit from stored responses, diagnose a student, recommend, class matrix."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update

from jindan.db.engine import Database
from jindan.db.models import Concept, Diagnosis, DiagnosisModelRow, ResponseRow, SchoolClass, User, class_members
from jindan.diagnosis.engine import DiagnosisResult, diagnose
from jindan.diagnosis.model import MasteryModel, fit
from jindan.diagnosis.recommend import recommend


class NoModel(LookupError):
    """No fitted model yet; the message says which command fits one."""


class UnknownStudent(LookupError):
    pass


def load_logs(db: Database) -> list[tuple[list[int], list[int]]]:
    """Every student's responses in time order (attempt, then position), concept ids from PostgreSQL."""
    logs: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    with db.engine.connect() as c:
        rows = c.execution_options(stream_results=True).execute(
            text(
                "SELECT user_id, concept_id, correct FROM responses WHERE concept_id IS NOT NULL "
                "ORDER BY user_id, answered_at, attempt_id, seq"
            )
        )
        for uid, cid, ok in rows:
            cs, ys = logs[uid]
            cs.append(int(cid))
            ys.append(1 if ok else 0)
    return list(logs.values())


def fit_and_store(db: Database, *, l2: float = 1.0, sequence: bool = True) -> MasteryModel:
    """Fit on every stored response and make the model active; ``sequence=False`` skips the GRU and the trees
    (seconds of training that a few hundred answers, e.g. the console's demo class, cannot use)."""
    logs = load_logs(db)
    if not logs:
        raise ValueError("no responses in the database: run `jindan import responses FILE` first")
    model = fit(logs, l2=l2, sequence=sequence)
    with db.session() as s:
        s.execute(update(DiagnosisModelRow).values(active=False))
        s.add(
            DiagnosisModelRow(
                version=model.version, params={"json": model.to_json()}, fit_info=model.fit_info, active=True
            )
        )
    return model


def active_model(db: Database) -> MasteryModel:
    with db.session() as s:
        row = s.scalars(select(DiagnosisModelRow).where(DiagnosisModelRow.active)).first()
    if row is None:
        raise NoModel("no diagnosis model yet: run `jindan diagnosis fit`")
    return MasteryModel.from_json(row.params["json"])


@dataclass
class History:
    concepts: list[int]
    correct: list[int]
    answered: set[int]  # question ids
    last_wrong: dict[int, int]  # concept id -> most recent question answered wrong on it


def history(db: Database, user_id: int) -> History:
    h = History([], [], set(), {})
    with db.session() as s:
        if s.get(User, user_id) is None:
            raise UnknownStudent(f"student {user_id} not found")
        rows = s.execute(
            select(ResponseRow.concept_id, ResponseRow.correct, ResponseRow.question_id)
            .where(ResponseRow.user_id == user_id)
            .order_by(ResponseRow.answered_at, ResponseRow.attempt_id, ResponseRow.seq)
        ).tuples()
        for cid, ok, qid in rows:
            if qid is not None:
                h.answered.add(qid)
                if not ok and cid is not None:
                    h.last_wrong[cid] = qid
            if cid is not None:
                h.concepts.append(cid)
                h.correct.append(1 if ok else 0)
    return h


def concept_names(db: Database, ids: list[int] | None = None) -> dict[int, str]:
    with db.session() as s:
        q = select(Concept.id, Concept.name)
        if ids is not None:
            q = q.where(Concept.id.in_(ids))
        return {i: n for i, n in s.execute(q).tuples()}


def diagnose_student(
    db: Database,
    user_id: int,
    *,
    model: MasteryModel | None = None,
    retriever: Any = None,
    store: bool = True,
    recommendations: int = 5,
) -> DiagnosisResult:
    model = model or active_model(db)
    h = history(db, user_id)
    universe = sorted(set(h.concepts)) or sorted(model.concept_bias)[:50]
    result = diagnose(model, user_id, h.concepts, h.correct, concept_names(db, universe), universe=universe)
    result.recommendations, notes = recommend(db, model, result, h, retriever=retriever, limit=recommendations)
    result.notes += notes
    if store:
        with db.session() as s:
            s.add(Diagnosis(user_id=user_id, model_version=model.version, result=result.to_dict()))
    return result


def class_matrix(db: Database, class_id: int, *, model: MasteryModel | None = None) -> dict[str, Any]:
    """Students x concepts mastery for a class (rows: students, columns: concepts any of them worked on)."""
    model = model or active_model(db)
    with db.session() as s:
        klass = s.get(SchoolClass, class_id)
        if klass is None:
            raise LookupError(f"class {class_id} not found")
        members = [
            (u.id, u.name or u.external_id)
            for u in s.scalars(
                select(User)
                .join(class_members, class_members.c.user_id == User.id)
                .where(class_members.c.class_id == class_id)
                .order_by(User.id)
            )
        ]
    results = {uid: diagnose_student(db, uid, model=model, store=False, recommendations=0) for uid, _ in members}
    concepts = sorted({c.concept_id for r in results.values() for c in r.concepts if c.evidence > 0})
    names = concept_names(db, concepts)
    matrix = []
    for uid, _ in members:
        by_c = {c.concept_id: c for c in results[uid].concepts}
        matrix.append([by_c[c].mastery if c in by_c and by_c[c].evidence else None for c in concepts])
    return {
        "class": {"id": class_id, "name": klass.name},
        "students": [{"id": uid, "name": name} for uid, name in members],
        "concepts": [{"id": c, "name": names.get(c, str(c))} for c in concepts],
        "mastery": matrix,
        "model_version": model.version,
    }
