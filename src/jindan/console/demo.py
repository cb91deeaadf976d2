"""The embedded profile's demo people: a teacher, an operator and a class of students who answered questions.

Seeded on the first demo sign-in, never at start-up and never outside the embedded profile's open loopback mode
(where the person at the machine is already the local admin, so a demo sign-in grants nothing new). The class
works on the Korean bank shipped in the package; its answers are drawn from a fixed seed (abilities per
student, difficulties per concept), so every machine shows the same heatmap. A second call changes nothing.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from jindan.db.engine import Database
from jindan.db.models import DiagnosisModelRow, Question, ResponseRow, SchoolClass, class_members
from jindan.db.repositories import ResponseRepository, UserRepository
from jindan.security.principal import Principal

log = logging.getLogger(__name__)

BANK = Path(str(files("jindan"))) / "data" / "ko" / "questions.jsonl"
CLASS_NAME = "데모 2학년 1반"
UNITS = ("일차방정식", "연립방정식", "일차함수")
TEACHER = ("demo-teacher", "teacher", "김선생")
ADMIN = ("demo-admin", "admin", "운영자")
STUDENTS = (
    ("demo-student-1", "student", "민지"),
    ("demo-student-2", "student", "서준"),
    ("demo-student-3", "student", "하은"),
    ("demo-student-4", "student", "도윤"),
    ("demo-student-5", "student", "지우"),
    ("demo-student-6", "student", "예준"),
    ("demo-student-7", "student", "수아"),
    ("demo-student-8", "student", "시우"),
)
SEED = 20261126
ROLES = ("student", "teacher", "admin")  # who the sign-in page offers
_lock = threading.Lock()


@dataclass(frozen=True)
class Demo:
    people: dict[str, Principal]  # role -> who a demo sign-in becomes
    class_id: int
    new_questions: int  # questions this call added to the bank (they need indexing)


def seed(db: Database, bank: Path | None = None) -> Demo:
    """Make sure the demo class exists with its answers and a fitted diagnosis model; return who signs in."""
    with _lock:
        added = _import_bank(db, bank or BANK)
        with db.session() as s:
            users = UserRepository(s)
            ids = {ext: users.sync(ext, role, name) for ext, role, name in (TEACHER, ADMIN, *STUDENTS)}
            klass = s.scalar(select(SchoolClass).where(SchoolClass.name == CLASS_NAME))
            if klass is None:
                klass = SchoolClass(name=CLASS_NAME, teacher_id=ids[TEACHER[0]])
                s.add(klass)
                s.flush()
            rows = [{"class_id": klass.id, "user_id": ids[ext]} for ext, _, _ in STUDENTS]
            s.execute(pg_insert(class_members).on_conflict_do_nothing(), rows)
            class_id = klass.id
            answered = s.scalar(
                select(func.count()).select_from(ResponseRow).where(ResponseRow.user_id == ids[STUDENTS[0][0]])
            )
        if not answered:
            _answer(db, [ids[ext] for ext, _, _ in STUDENTS])
        _fit_once(db)
    people = {
        role: Principal("user", role, ids[ext], ext, name=name)  # type: ignore[arg-type]
        for ext, role, name in (STUDENTS[0], TEACHER, ADMIN)
    }
    return Demo(people, class_id, added)


def _import_bank(db: Database, bank: Path) -> int:
    from jindan.importers.questions import import_questions

    report = import_questions(db, bank, source="ko-math")
    if report.counts.inserted:
        log.info("demo: %d Korean questions added to the bank", report.counts.inserted)
    return report.counts.inserted


def _questions(db: Database) -> list[tuple[int, int, str]]:
    """(id, level, subject) of the demo units' questions, in the bank's order."""
    with db.session() as s:
        rows = s.execute(
            select(Question.id, Question.level, Question.subject)
            .where(Question.source == "ko-math", Question.subject.in_(UNITS))
            .order_by(Question.external_id)
        ).tuples()
        return [(qid, level or 2, subject or "") for qid, level, subject in rows]


def _answer(db: Database, students: list[int]) -> None:
    """Each student works through the units (some questions skipped), then retries what they got wrong."""
    rng = random.Random(SEED)
    questions = _questions(db)
    unit_difficulty = {u: rng.gauss(0, 0.8) for u in UNITS}
    with db.session() as s:
        repo = ResponseRepository(s)
        for n, uid in enumerate(students):
            ability = rng.gauss(0.3, 1.0) if n else -0.2  # the demo student has room to grow
            strong_unit = rng.choice(UNITS)
            items: list[dict[str, Any]] = []
            wrong: list[tuple[int, int, str]] = []
            for q in questions:
                if rng.random() < 0.45:  # left for later: what the diagnosis can recommend
                    continue
                ok = _draw(rng, ability, unit_difficulty, q, bonus=0.8 if q[2] == strong_unit else 0.0)
                items.append({"question_id": q[0], "correct": ok, "time_taken_ms": rng.randint(20_000, 240_000)})
                if not ok:
                    wrong.append(q)
            for q in wrong:  # a second try, a little wiser
                ok = _draw(rng, ability + 0.6, unit_difficulty, q, bonus=0.0)
                items.append({"question_id": q[0], "correct": ok, "time_taken_ms": rng.randint(20_000, 180_000)})
            if items:
                repo.record(uid, f"demo-{uid}", items)


def _draw(rng: random.Random, ability: float, unit: dict[str, float], q: tuple[int, int, str], bonus: float) -> bool:
    _, level, subject = q
    z = ability + bonus - unit.get(subject, 0.0) - 0.5 * (level - 2)
    return rng.random() < 1 / (1 + math.exp(-z))


def _fit_once(db: Database) -> None:
    """Fit the diagnosis model when there is none (an operator's fitted model is kept as it is)."""
    with db.session() as s:
        if s.scalar(select(DiagnosisModelRow.version).where(DiagnosisModelRow.active)) is not None:
            return
    from jindan.diagnosis.service import fit_and_store

    model = fit_and_store(db, sequence=False)  # a GRU needs far more than the demo's answers
    log.info("demo: diagnosis model %s fitted", model.version)


def index_new_questions(state: Any, demo: Demo) -> None:
    """Index what the demo added, in the background, after any indexing already running (the first start's)."""
    stack = state.search
    settings = stack.settings
    try:
        built = stack.store.exists(stack.store.resolve(settings.vectors.alias))
    except Exception as exc:  # the store is down: search says so on its own
        log.warning("demo: vector store unavailable, the demo questions are not indexed: %s", exc)
        return
    if built and not demo.new_questions:
        return
    previous = getattr(state, "index_thread", None)

    def run() -> None:
        from jindan.jobs.index import run_index

        if previous is not None:
            previous.join()
        try:
            stop = getattr(state, "index_stop", None)  # set when the service shuts down
            report = run_index(settings, stack.db, stack.store, stack.embedder, stop=stop)
            if report is not None:
                log.info("demo: %d questions indexed in %.0f s", report.embedded, report.seconds)
        except Exception:
            log.exception("demo: indexing failed; run `jindan index questions`")

    thread = threading.Thread(target=run, name="demo-console-index", daemon=True)
    state.index_thread = thread
    thread.start()
