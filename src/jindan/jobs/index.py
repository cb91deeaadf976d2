"""The index job: `jindan index questions`, the first start's background index, a re-index to a new embedder
and the console demo's index all run through here, so one process at a time embeds a collection and every
replica can show how far it is ("3,776 / 5,000, about 4 min left").

Passages are embedded through the PostgreSQL embedding cache, so a text embedded once by this embedder (by
any replica, any earlier run) is never embedded again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from jindan.db.engine import Database
from jindan.embed.base import Embedder
from jindan.embed.cache import CachedEmbedder
from jindan.jobs.lease import Jobs, JobStatus
from jindan.rag.index import Indexer, IndexReport
from jindan.settings import Settings
from jindan.vectors.base import VectorStore

log = logging.getLogger(__name__)


IMPORT_JOB = "demo-import"  # the first start's import of the demo bank, before its index


def job_name(alias: str) -> str:
    return f"index:{alias}"


def jobs_of(settings: Settings, db: Database) -> Jobs:
    return Jobs(db, settings.jobs.lease_s, settings.jobs.poll_s)


def run_index(
    settings: Settings,
    db: Database,
    store: VectorStore,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    stop: threading.Event | None = None,
    wait: bool = True,
    once: bool = False,
    on_wait: Callable[[JobStatus], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    sparse: Any = None,
) -> IndexReport | None:
    """Index under the collection's job lease. While another process indexes: wait (``on_wait`` sees its
    progress; its job is taken over if it dies) or raise JobHeld. None when there was nothing left to do: with
    ``once``, the other process finished it; or ``stop`` came before the claim or while waiting. A ``stop``
    during the run ends it within a few texts and releases the lease (the job is marked stopped)."""
    if stop is not None and stop.is_set():
        return None  # the service is shutting down: not even a claim
    alias = settings.vectors.alias
    cached = CachedEmbedder(embedder, db)
    with jobs_of(settings, db).hold(job_name(alias), wait=wait, once=once, stop=stop, on_wait=on_wait) as lease:
        if lease is None:
            return None
        if lease.took_over:
            log.info("index of %s: %s; going on where it stopped", alias, lease.took_over)
        indexer = Indexer(
            db, store, cached, alias, batch_size=settings.embed.batch_size, sparse=sparse,
            first_pass=settings.embed.first_pass,
        )  # fmt: skip

        def watch(done: int, total: int, phase: str) -> None:
            lease.report(done, total, phase)

        report = indexer.run(rebuild=rebuild, progress=progress, stop=stop, watch=watch)
        report.from_cache = cached.hits
        if "embed" in report.phases:  # the model's share and the cache's share of the embedding time
            report.phases["embed"] -= cached.cache_s
            report.phases["embedding cache"] = cached.cache_s
        if report.stopped:
            lease.outcome = "stopped"
        lease.detail = (
            f"{report.embedded} indexed ({cached.misses} embedded, {cached.hits} from the cache), "
            f"{report.unchanged} unchanged, {report.deleted} deleted in {report.seconds:.0f} s"
        )
        return report


def index_status(settings: Settings, db: Database | None) -> JobStatus | None:
    """The collection's index job as every replica sees it (None: never run, or PostgreSQL unavailable); while
    the first start imports the demo bank, that import (the index follows it)."""
    if db is None:
        return None
    try:
        jobs = jobs_of(settings, db)
        importing = jobs.status(IMPORT_JOB)
        if importing is not None and importing.running:
            return importing
        return jobs.status(job_name(settings.vectors.alias))
    except Exception as exc:
        log.debug("index job status unavailable: %s", type(exc).__name__)
        return None
