"""The first start's demo bank: imported in the background, stoppable between batches, resumed next start."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from jindan.db.engine import Database
from jindan.db.repositories import QuestionRepository
from jindan.demo import IMPORTING, import_demo_bank, import_pending
from jindan.importers.questions import BATCH
from jindan.jobs.index import IMPORT_JOB, index_status, jobs_of
from jindan.settings import Settings


def _bank(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "demo.jsonl"
    rows = [{"id": f"d{i}", "problem": f"problem {i}", "subject": "Algebra"} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _count(db: Database) -> int:
    with db.session() as s:
        return QuestionRepository(s).count()


def test_a_stopped_import_keeps_its_rows_and_the_next_start_imports_the_rest(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    settings.server.demo_questions = _bank(tmp_path, 2 * BATCH + 7)
    stop = threading.Event()
    stop.set()  # the service is stopping: the import ends after the batch in hand
    assert import_demo_bank(settings, db, stop) == 0
    assert _count(db) == BATCH
    job = jobs_of(settings, db).status(IMPORT_JOB)
    assert job is not None and job.state == "stopped" and job.done == BATCH and job.total == 2 * BATCH + 7
    assert import_pending(settings, db)  # a half-imported bank is not taken for the platform's own
    assert import_demo_bank(settings, db) == BATCH + 7
    assert _count(db) == 2 * BATCH + 7
    assert not import_pending(settings, db)
    assert import_demo_bank(settings, db) == 0  # a restart imports nothing twice


def test_the_platforms_own_bank_is_never_touched(settings: Settings, db: Database, tmp_path: Path) -> None:
    from jindan.importers.questions import import_questions

    import_questions(db, _bank(tmp_path, 3), source="school")
    settings.server.demo_questions = tmp_path / "missing.jsonl"
    assert not import_pending(settings, db)
    assert import_demo_bank(settings, db) == 0 and _count(db) == 3


def test_readiness_shows_the_import_while_it_runs_then_the_index(settings: Settings, db: Database) -> None:
    jobs = jobs_of(settings, db)
    lease = jobs.claim(IMPORT_JOB)
    assert lease is not None
    lease.report(500, 5000, IMPORTING)
    status = index_status(settings, db)
    assert status is not None and status.name == IMPORT_JOB and status.line().startswith(f"{IMPORTING}: 500 / 5,000")
    lease.finish()
    assert index_status(settings, db) is None  # done, and no index job yet


def test_a_start_takes_an_index_of_either_auto_model_for_its_own(tmp_path: Path) -> None:
    """``auto`` builds an English bank with MiniLM: the next start must not index it again for e5's sake."""
    from types import SimpleNamespace

    from jindan.demo import _indexed
    from jindan.embed.registry import build_embedder
    from jindan.vectors.base import CollectionSpec
    from jindan.vectors.qdrant_edge import QdrantEdgeStore

    settings = Settings(embed={"provider": "auto"})  # type: ignore[arg-type]
    store = QdrantEdgeStore(tmp_path / "q")
    try:
        stack = SimpleNamespace(store=store, embedder=build_embedder(settings))
        assert not _indexed(settings, stack)
        for model, own in (("all-MiniLM-L6-v2", True), ("text-embedding-3-small", False)):
            name = f"questions__{model}"
            store.create(CollectionSpec(name=name, dim=384, model_id=model))
            store.switch_alias("questions", name)
            assert _indexed(settings, stack) is own
    finally:
        store.close()
