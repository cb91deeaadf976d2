"""First-start demo data: a newcomer on the embedded profile gets the real MATH bank to query.

Both steps run in one background thread after the service answers: the bank's import (a job, so replicas
started together import it once; stoppable between batches and resumed at the next start) and then its index.
"""

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
IMPORTING = "importing the demo bank"


class _Stopped(Exception):
    """The service is shutting down: the import ends after the batch in hand (the next start goes on)."""


def shared_data(relative: str) -> Path | None:
    """A file from the team's shared data folder (``../shared/data`` beside the checkout), if present."""
    for base in (Path.cwd().parent, REPO_ROOT.parent):
        path = base / "shared" / "data" / relative
        if path.exists():
            return path
    return None


def import_pending(settings: Settings, db: Database) -> bool:
    """The demo bank is still to import: the bank is empty, or an earlier import stopped or died midway
    (a bank of the platform's own questions, imported otherwise, is never touched)."""
    from jindan.jobs.index import IMPORT_JOB, jobs_of

    if not _has_questions(db):
        return True
    status = jobs_of(settings, db).status(IMPORT_JOB)
    return status is not None and status.state != "done"


def import_demo_bank(settings: Settings, db: Database, stop: threading.Event | None = None) -> int:
    """Import the MATH bank when :func:`import_pending`; returns the number of questions added. Replicas
    started together import it once (a job lease: the others wait for it). ``stop`` ends it after the batch
    in hand; the rows already written stay and the next start imports the rest (an upsert by id)."""
    from jindan.jobs.index import IMPORT_JOB, jobs_of

    jobs = jobs_of(settings, db)
    looked = jobs.clock()  # a replica that finishes the import after this moment has done it for us too
    if not import_pending(settings, db):
        return 0

    def waiting(status: JobStatus) -> None:
        log.info("the demo bank is being imported by %s; waiting", status.holder)

    with jobs.hold(IMPORT_JOB, once=True, stop=stop, on_wait=waiting, since=looked) as lease:
        if lease is None:  # another replica imported it meanwhile
            return 0
        path = settings.server.demo_questions or shared_data("math/problems.jsonl")
        if path is None or not path.exists():
            log.warning("empty question bank and no demo file found (set JINDAN_SERVER__DEMO_QUESTIONS)")
            return 0
        from jindan.importers.questions import import_questions
        from jindan.importers.reader import ImportReport

        total = _lines(path)
        lease.report(0, total, IMPORTING)

        def batch_done(report: ImportReport) -> None:
            lease.report(report.rows_read + len(report.errors), total)
            if stop is not None and stop.is_set():
                raise _Stopped

        log.info("%s %s", IMPORTING, path)
        try:
            report = import_questions(db, path, source="math", on_batch=batch_done)
        except _Stopped:
            lease.outcome, lease.detail = "stopped", "the service stopped; the next start imports the rest"
            log.info("demo bank import stopped; the next start goes on")
            return 0
        lease.detail = f"{report.counts.inserted} imported, {len(report.errors)} rows rejected"
        log.info("demo bank: %d questions imported, %d rows rejected", report.counts.inserted, len(report.errors))
        return report.counts.inserted


def _lines(path: Path) -> int | None:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return None


def _has_questions(db: Database) -> bool:
    with db.session() as s:
        return QuestionRepository(s).count() > 0


def _indexed(settings: Settings, stack: Any) -> bool | None:
    """The alias points at a collection of the configured embedder (None: the vector store is unavailable)."""
    try:
        current = stack.store.resolve(settings.vectors.alias)
        models = getattr(stack.embedder, "models", (stack.embedder.model_id,))  # auto: either of its models
        return bool(stack.store.exists(current) and stack.store.spec(current).model_id in models)
    except Exception as exc:
        log.warning("vector store unavailable, no background indexing: %s", exc)
        return None


def _index_pending(settings: Settings, stack: Any) -> bool:
    """No index of the configured embedder yet, or its last run stopped or died midway (a first index that
    answers after its first pass goes on with its second at the next start)."""
    from jindan.jobs.index import index_status

    indexed = _indexed(settings, stack)
    if indexed is None:
        return False
    status = index_status(settings, stack.db)
    return not indexed or (status is not None and status.name.startswith("index:") and status.state != "done")


def start_first_run(settings: Settings, stack: Any, stop: threading.Event | None = None) -> threading.Thread | None:
    """First start: import the demo bank (``server.demo_import``) and index the bank (``server.demo_index``)
    in the background, so similar-question search works without a command; None when there is nothing to do.

    The service answers meanwhile; search says "run `jindan index questions`" until the alias exists (the
    indexer switches it only when the collection is complete). An index built by another embedder (an older
    default) is rebuilt the same way while it keeps serving, its queries embedded by its own model. ``stop``
    (set when the service shuts down) ends either step after its batch; the next start goes on from there."""
    db = stack.db
    importing = settings.server.demo_import and import_pending(settings, db)
    indexing = settings.server.demo_index and (importing or _index_pending(settings, stack))
    if not (importing or indexing):
        return None

    def run() -> None:
        try:
            added = import_demo_bank(settings, db, stop) if importing else 0
        except Exception:
            log.exception("the demo bank import failed; import a bank with `jindan import questions`")
            return
        if indexing and not (stop is not None and stop.is_set()) and (added or _index_pending(settings, stack)):
            _index(settings, stack, stop)

    thread = threading.Thread(target=run, name="first-run", daemon=True)
    thread.start()
    log.info("preparing the question bank in the background (similar-question search is ready when it finishes)")
    return thread


def _index(settings: Settings, stack: Any, stop: threading.Event | None) -> None:
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
