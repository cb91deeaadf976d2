"""First-start demo data: a newcomer on the embedded profile gets the real MATH bank to query."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from jindan.db.engine import Database
from jindan.db.repositories import QuestionRepository
from jindan.jobs.lease import JobStatus
from jindan.settings import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data(relative: str) -> Path | None:
    """A file from the team's shared data folder (``../shared/data`` beside the checkout), if present."""
    for base in (Path.cwd().parent, REPO_ROOT.parent):
        path = base / "shared" / "data" / relative
        if path.exists():
            return path
    return None


def import_demo_bank(settings: Settings, db: Database) -> int:
    """Import the MATH bank when the question table is empty; returns the number of questions added. Replicas
    started together import it once (a job lease: the others wait for it)."""
    from jindan.jobs.index import jobs_of

    if _has_questions(db):
        return 0

    def waiting(status: JobStatus) -> None:
        log.info("the demo bank is being imported by %s; waiting", status.holder)

    with jobs_of(settings, db).hold("demo-import", once=True, on_wait=waiting) as lease:
        if lease is None or _has_questions(db):
            return 0
        return _import(settings, db)


def _has_questions(db: Database) -> bool:
    with db.session() as s:
        return QuestionRepository(s).count() > 0


def _import(settings: Settings, db: Database) -> int:
    path = settings.server.demo_questions or shared_data("math/problems.jsonl")
    if path is None or not path.exists():
        log.warning("empty question bank and no demo file found (set JINDAN_SERVER__DEMO_QUESTIONS)")
        return 0
    from jindan.importers.questions import import_questions

    log.info("empty question bank: importing the demo bank %s", path)
    report = import_questions(db, path, source="math")
    log.info("demo bank: %d questions imported, %d rows rejected", report.counts.inserted, len(report.errors))
    return report.counts.inserted


def start_demo_index(settings: Settings, stack: Any, stop: threading.Event | None = None) -> threading.Thread | None:
    """First start: index the bank in the background so similar-question search works without a command.

    The service answers meanwhile; search says "run `jindan index questions`" until the alias exists (the
    indexer switches it only when the collection is complete). An index built by another embedder (an older
    default) is rebuilt the same way while it keeps serving, its queries embedded by its own model. ``stop``
    (set when the service shuts down) ends it after the current batch; the next start goes on from there."""
    try:
        current = stack.store.resolve(settings.vectors.alias)
        if stack.store.exists(current) and stack.store.spec(current).model_id == stack.embedder.model_id:
            return None  # indexed by the configured embedder (an older one: re-indexed below, old one serving)
    except Exception as exc:
        log.warning("vector store unavailable, no background indexing: %s", exc)
        return None

    def run() -> None:
        from jindan.jobs.index import run_index

        said: list[str] = []

        def waiting(status: JobStatus) -> None:
            if status.holder not in said:  # once per holder (a takeover names the new one)
                said.append(status.holder or "")
                log.info("the question index is being built by %s (%s); waiting", status.holder, status.line())

        try:
            report = run_index(settings, stack.db, stack.store, stack.embedder, stop=stop, once=True, on_wait=waiting)
            if report is None:
                log.info("the question index was built by another process")
            elif report.stopped:
                log.info("background index stopped after %d passages; the next start goes on", report.embedded)
            else:
                log.info(
                    "background index: %d passages indexed (%d from the embedding cache) in %.0f s",
                    report.embedded,
                    report.from_cache,
                    report.seconds,
                )
        except Exception:
            log.exception("background indexing failed; run `jindan index questions`")

    thread = threading.Thread(target=run, name="demo-index", daemon=True)
    thread.start()
    log.info("indexing the question bank in the background (similar-question search is ready when it finishes)")
    return thread
