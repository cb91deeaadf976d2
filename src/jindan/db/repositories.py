"""Repositories: the only place that writes SQL for the domain tables.

Bulk writes are single set-based statements (``INSERT ... ON CONFLICT ... WHERE changed RETURNING``) so an
import reports inserted / updated / unchanged exactly and a second run touches nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from jindan.db.models import (
    Attempt,
    Concept,
    Material,
    Question,
    ResponseRow,
    Role,
    SchoolClass,
    ServiceKey,
    User,
    class_members,
    question_concepts,
)
from jindan.domain.questions import QuestionIn


@dataclass
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


class ConceptRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def ensure(self, concepts: dict[str, tuple[str, str | None]]) -> dict[str, int]:
        """Create missing concepts (external_id -> (name, subject)); return external_id -> id for all."""
        if not concepts:
            return {}
        rows = [{"external_id": k, "name": n, "subject": s} for k, (n, s) in concepts.items()]
        self.s.execute(pg_insert(Concept).on_conflict_do_nothing(index_elements=["external_id"]), rows)
        found = self.s.execute(select(Concept.external_id, Concept.id).where(Concept.external_id.in_(list(concepts))))
        return {ext: cid for ext, cid in found.tuples()}

    def count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(Concept)) or 0)


class QuestionRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def upsert(self, questions: Sequence[QuestionIn]) -> UpsertCounts:
        """Insert new questions, update changed ones (by content hash), leave the rest untouched."""
        if not questions:
            return UpsertCounts()
        concept_ids = ConceptRepository(self.s).ensure({c: (c, q.subject) for q in questions for c in q.concepts})
        rows = [{**q.model_dump(exclude={"concepts"}), "content_hash": q.content_hash()} for q in questions]
        ins = pg_insert(Question)
        content_cols = [c for c in rows[0] if c not in ("source", "external_id")]
        stmt = ins.on_conflict_do_update(
            constraint="uq_questions_source_external_id",
            set_={**{c: ins.excluded[c] for c in content_cols}, "updated_at": func.now()},
            where=Question.content_hash != ins.excluded.content_hash,
        ).returning(Question.id, Question.external_id, text("(xmax = 0) AS inserted"))
        result = self.s.execute(stmt, rows)
        changed = list(result.tuples())
        self._relink(changed, {q.external_id: q for q in questions}, concept_ids)
        inserted = sum(1 for _, _, ins in changed if ins)
        return UpsertCounts(inserted, len(changed) - inserted, len(questions) - len(changed))

    def _relink(
        self,
        changed: Iterable[tuple[int, str, bool]],
        by_ext: dict[str, QuestionIn],
        concept_ids: dict[str, int],
    ) -> None:
        changed = list(changed)
        if not changed:
            return
        self.s.execute(
            delete(question_concepts).where(question_concepts.c.question_id.in_([qid for qid, _, _ in changed]))
        )
        links = [
            {"question_id": qid, "concept_id": concept_ids[c]} for qid, ext, _ in changed for c in by_ext[ext].concepts
        ]
        if links:
            self.s.execute(insert(question_concepts), links)

    def count(self, *, source: str | None = None, subject: str | None = None) -> int:
        q = select(func.count()).select_from(Question)
        if source:
            q = q.where(Question.source == source)
        if subject:
            q = q.where(Question.subject == subject)
        return int(self.s.scalar(q) or 0)

    def get(self, question_id: int) -> Question | None:
        return self.s.get(Question, question_id)

    def list(self, *, subject: str | None = None, limit: int = 50, offset: int = 0) -> list[Question]:
        q = select(Question).order_by(Question.id).limit(limit).offset(offset)
        if subject:
            q = q.where(Question.subject == subject)
        return list(self.s.scalars(q))


QUESTION_CARDS = text(
    """
    SELECT q.id, q.source, q.external_id, q.body, q.subject, q.level, q.answer, q.explanation,
           coalesce(array_agg(c.external_id ORDER BY c.external_id) FILTER (WHERE c.id IS NOT NULL), '{}') AS concepts
    FROM questions q
    LEFT JOIN question_concepts qc ON qc.question_id = q.id
    LEFT JOIN concepts c ON c.id = qc.concept_id
    WHERE q.id = ANY(:ids)
    GROUP BY q.id
    """
)


def question_cards(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    """Questions with their concepts in one statement (search results are hydrated on every request): rows with
    id, source, external_id, body, subject, level, answer, explanation, concepts."""
    return {row.id: row for row in conn.execute(QUESTION_CARDS, {"ids": list(ids)})}


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def ensure(self, external_ids: Sequence[str], role: Role = Role.student) -> dict[str, int]:
        if not external_ids:
            return {}
        rows = [{"external_id": e, "role": role} for e in external_ids]
        self.s.execute(pg_insert(User).on_conflict_do_nothing(index_elements=["external_id"]), rows)
        found = self.s.execute(select(User.external_id, User.id).where(User.external_id.in_(list(external_ids))))
        return {e: i for e, i in found.tuples()}

    def count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(User)) or 0)

    def sync(self, external_id: str, role: str, name: str | None) -> int:
        """The user the platform vouches for: created on first sight, role and name kept as the platform says."""
        ins = pg_insert(User).values(external_id=external_id, role=Role(role), name=name)
        stmt = ins.on_conflict_do_update(
            index_elements=["external_id"],
            set_={"role": ins.excluded.role, "name": func.coalesce(ins.excluded.name, User.name)},
            where=(User.role != ins.excluded.role)
            | (ins.excluded.name.is_not(None) & User.name.is_distinct_from(ins.excluded.name)),
        ).returning(User.id)
        uid = self.s.scalar(stmt)
        if uid is None:  # unchanged: nothing returned
            uid = self.s.scalar(select(User.id).where(User.external_id == external_id))
        assert uid is not None
        return int(uid)

    def exists(self, user_id: int) -> bool:
        return self.s.get(User, user_id) is not None

    def teaches_student(self, teacher_id: int, student_id: int) -> bool:
        q = (
            select(SchoolClass.id)
            .join(class_members, class_members.c.class_id == SchoolClass.id)
            .where(SchoolClass.teacher_id == teacher_id, class_members.c.user_id == student_id)
            .limit(1)
        )
        return self.s.scalar(q) is not None

    def teaches_class(self, teacher_id: int, class_id: int) -> bool:
        q = select(SchoolClass.id).where(SchoolClass.id == class_id, SchoolClass.teacher_id == teacher_id)
        return self.s.scalar(q) is not None


class ServiceKeyRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, key_id: str, name: str, role: str, digest: str) -> None:
        self.s.add(ServiceKey(id=key_id, name=name, role=role, hash=digest))

    def by_name(self, name: str) -> ServiceKey | None:
        return self.s.scalar(select(ServiceKey).where(ServiceKey.name == name))

    def get(self, key_id: str) -> ServiceKey | None:
        return self.s.get(ServiceKey, key_id)

    def all(self) -> list[ServiceKey]:
        return list(self.s.scalars(select(ServiceKey).order_by(ServiceKey.created_at)))

    def revoke(self, name_or_id: str) -> bool:
        row = self.by_name(name_or_id) or self.get(name_or_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = func.now()
        return True

    def touch(self, key_id: str) -> None:
        self.s.execute(update(ServiceKey).where(ServiceKey.id == key_id).values(last_used_at=func.now()))


@dataclass(frozen=True)
class ResponseLog:
    """One student's ordered responses (pyKT layout): concept external ids and 0/1 outcomes."""

    user_external_id: str
    concepts: list[str]
    correct: list[bool]
    time_taken_ms: list[int | None] | None = None


class ResponseRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def upsert_logs(self, logs: Sequence[ResponseLog], concept_ids: dict[str, int]) -> tuple[UpsertCounts, int]:
        """Write whole response logs, one attempt per student; returns per-student counts and rows written."""
        if not logs:
            return UpsertCounts(), 0
        users = UserRepository(self.s).ensure([log.user_external_id for log in logs])
        att_rows = [{"external_id": f"log:{e}", "user_id": users[e]} for e in users]
        self.s.execute(pg_insert(Attempt).on_conflict_do_nothing(index_elements=["external_id"]), att_rows)
        found = self.s.execute(
            select(Attempt.external_id, Attempt.id).where(Attempt.external_id.in_([r["external_id"] for r in att_rows]))
        )
        attempts = {ext: aid for ext, aid in found.tuples()}  # dict(result) would treat it as a mapping
        cols: dict[str, list[object]] = {k: [] for k in ("att", "usr", "seq", "con", "cor", "ms")}
        for log in logs:
            att, usr = attempts[f"log:{log.user_external_id}"], users[log.user_external_id]
            times = log.time_taken_ms or [None] * len(log.correct)
            for i, (c, ok) in enumerate(zip(log.concepts, log.correct, strict=True)):
                for key, val in zip(cols, (att, usr, i, concept_ids[c], ok, times[i]), strict=True):
                    cols[key].append(val)
        written = self._write(cols)
        trimmed = self._trim({attempts[f"log:{log.user_external_id}"]: len(log.correct) for log in logs})
        counts = UpsertCounts()
        for log in logs:
            aid = attempts[f"log:{log.user_external_id}"]
            if aid not in written and aid not in trimmed:
                counts.unchanged += 1
            elif written.get(aid) and aid not in trimmed:
                counts.inserted += 1
            else:
                counts.updated += 1
        return counts, len(cols["seq"])

    def _write(self, cols: dict[str, list[object]]) -> dict[int, bool]:
        """Upsert the rows; return attempt id -> True when every row written for it was new."""
        rows = self.s.execute(
            text(
                """
                INSERT INTO responses (attempt_id, user_id, seq, concept_id, correct, time_taken_ms)
                SELECT * FROM unnest(CAST(:att AS int[]), CAST(:usr AS int[]), CAST(:seq AS int[]),
                                     CAST(:con AS int[]), CAST(:cor AS bool[]), CAST(:ms AS int[]))
                ON CONFLICT (attempt_id, seq) DO UPDATE
                  SET concept_id = excluded.concept_id, correct = excluded.correct,
                      time_taken_ms = excluded.time_taken_ms
                  WHERE (responses.concept_id, responses.correct, responses.time_taken_ms)
                        IS DISTINCT FROM (excluded.concept_id, excluded.correct, excluded.time_taken_ms)
                RETURNING attempt_id, (xmax = 0) AS inserted
                """
            ),
            cols,
        )
        fresh: dict[int, bool] = {}
        for aid, ins in rows.tuples():
            fresh[aid] = fresh.get(aid, True) and bool(ins)
        return fresh

    def _trim(self, lengths: dict[int, int]) -> set[int]:
        """Delete responses beyond a log's new length (the log got shorter); return the attempts touched."""
        rows = self.s.execute(
            text(
                """
                DELETE FROM responses r USING unnest(CAST(:a AS int[]), CAST(:n AS int[])) AS t(aid, n)
                WHERE r.attempt_id = t.aid AND r.seq >= t.n RETURNING r.attempt_id
                """
            ),
            {"a": list(lengths), "n": list(lengths.values())},
        )
        return {aid for (aid,) in rows.tuples()}

    def count(self) -> int:
        return int(self.s.scalar(text("SELECT count(*) FROM responses")) or 0)

    def record(self, user_id: int, attempt_key: str | None, items: Sequence[dict[str, Any]]) -> tuple[int, list[int]]:
        """Append answers to an attempt (``attempt_key`` groups a sitting; a new attempt without one).

        Each item: question_id, chosen_answer, correct, time_taken_ms. The concept is the question's first
        concept. Raises LookupError naming unknown question ids, PermissionError for another user's attempt.
        """
        qids = sorted({int(i["question_id"]) for i in items})
        known: dict[int, int | None] = dict(
            self.s.execute(
                select(Question.id, func.min(question_concepts.c.concept_id))
                .outerjoin(question_concepts, question_concepts.c.question_id == Question.id)
                .where(Question.id.in_(qids))
                .group_by(Question.id)
            )
            .tuples()
            .all()  # a Result has keys(): dict() would read it as a mapping
        )
        if missing := [q for q in qids if q not in known]:
            raise LookupError(f"unknown question ids: {missing[:20]}")
        attempt = None
        if attempt_key is not None:
            attempt = self.s.scalar(select(Attempt).where(Attempt.external_id == attempt_key).with_for_update())
            if attempt is not None and attempt.user_id != user_id:
                raise PermissionError(f"attempt {attempt_key!r} belongs to another student")
        if attempt is None:
            attempt = Attempt(external_id=attempt_key, user_id=user_id)
            self.s.add(attempt)
            self.s.flush()
        start = self.s.scalar(
            select(func.coalesce(func.max(ResponseRow.seq) + 1, 0)).where(ResponseRow.attempt_id == attempt.id)
        )
        rows = [
            ResponseRow(
                attempt_id=attempt.id,
                user_id=user_id,
                seq=int(start or 0) + n,
                question_id=int(i["question_id"]),
                concept_id=known[int(i["question_id"])],
                correct=bool(i["correct"]),
                chosen_answer=i.get("chosen_answer"),
                time_taken_ms=i.get("time_taken_ms"),
            )
            for n, i in enumerate(items)
        ]
        self.s.add_all(rows)
        self.s.flush()
        return attempt.id, [r.id for r in rows]

    def of_user(self, user_id: int, limit: int, offset: int) -> list[ResponseRow]:
        q = (
            select(ResponseRow)
            .where(ResponseRow.user_id == user_id)
            .order_by(ResponseRow.answered_at.desc(), ResponseRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(self.s.scalars(q))


class MaterialRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def upsert(self, rows: Sequence[dict[str, Any]]) -> UpsertCounts:
        """rows: external_id, title, text, concepts, language, content_hash; unchanged hashes are left alone."""
        if not rows:
            return UpsertCounts()
        ins = pg_insert(Material)
        stmt = ins.on_conflict_do_update(
            index_elements=["external_id"],
            set_={c: ins.excluded[c] for c in ("title", "text", "concepts", "language", "content_hash")}
            | {"updated_at": func.now()},
            where=Material.content_hash != ins.excluded.content_hash,
        ).returning(Material.id, text("(xmax = 0) AS inserted"))
        changed = list(self.s.execute(stmt, list(rows)).tuples())
        inserted = sum(1 for _, ins_ in changed if ins_)
        return UpsertCounts(inserted, len(changed) - inserted, len(rows) - len(changed))
