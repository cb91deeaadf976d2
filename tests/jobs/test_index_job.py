"""The index job: run under a lease, progress stored, vectors cached by (embedder, text)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jindan.db.engine import Database
from jindan.embed.cache import CachedEmbedder, space
from jindan.jobs.index import index_status, job_name, run_index
from jindan.jobs.lease import JobHeld, Jobs
from jindan.settings import Settings
from jindan.vectors.qdrant_edge import QdrantEdgeStore


class Counting:
    """A deterministic fake embedder (the embedder is not what is tested): counts the texts it embeds."""

    model_id, dim = "fake-embedder", 8

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[QdrantEdgeStore]:
    s = QdrantEdgeStore(tmp_path / "qdrant")
    yield s
    s.close()


def test_an_index_runs_under_its_lease_and_a_rebuild_embeds_nothing_twice(
    bank: Database, settings: Settings, store: QdrantEdgeStore
) -> None:
    fake = Counting()
    seen: list[tuple[int, int]] = []
    report = run_index(settings, bank, store, fake, progress=lambda n, total: seen.append((n, total)))
    assert report is not None and report.embedded == 120 and report.from_cache == 0
    assert len(fake.embedded) == 120 and store.count(report.collection) == 120
    status = index_status(settings, bank)
    assert status is not None and status.state == "done" and (status.done, status.total) == (120, 120)
    assert "120 embedded, 0 from the cache" in (status.detail or "")

    again = run_index(settings, bank, store, fake, rebuild=True)  # a new collection, the same texts
    assert again is not None and again.created and again.embedded == 120 and again.from_cache == 120
    assert len(fake.embedded) == 120  # nothing embedded twice
    assert np.allclose(
        store.retrieve(again.collection, [1], with_vectors=True)[0].vector,
        store.retrieve(report.collection, [1], with_vectors=True)[0].vector,
    )


def test_a_second_index_waits_or_reports_who_holds_it(
    bank: Database, settings: Settings, store: QdrantEdgeStore
) -> None:
    other = Jobs(bank)
    other.holder = "replica-b:7"
    lease = other.claim(job_name(settings.vectors.alias))
    assert lease is not None
    lease.report(40, 120, "embedding")
    with pytest.raises(JobHeld, match=r"replica-b:7.*40 / 120"):
        run_index(settings, bank, store, Counting(), wait=False)
    stop = threading.Event()
    stop.set()  # a service shutting down stops waiting at once
    assert run_index(settings, bank, store, Counting(), stop=stop) is None


def test_the_cache_is_keyed_by_embedder_and_text(db: Database) -> None:
    fake = Counting()
    cached = CachedEmbedder(fake, db)
    first = cached.embed_passages(["a", "b", "a"])
    assert fake.embedded == ["a", "b"] and cached.misses == 2 and cached.hits == 1  # a repeated text: once
    second = CachedEmbedder(fake, db).embed_passages(["b", "a", "c"])
    assert fake.embedded[2:] == ["c"]
    assert np.array_equal(second[0], first[1]) and np.array_equal(second[1], first[0])

    class Other(Counting):
        model_id = "another-model"

    assert space(Other()) != space(fake)
    other = Other()
    CachedEmbedder(other, db).embed_passages(["a"])
    assert other.embedded == ["a"]  # another model never reuses a vector


def test_a_stop_mid_run_releases_the_lease_at_once(bank: Database, settings: Settings, store: QdrantEdgeStore) -> None:
    """SIGTERM while indexing: the job is marked stopped and its lease released, so the next start (or another
    replica) goes on at once instead of waiting for the lease to run out."""
    stop = threading.Event()

    class Stopping(Counting):
        def embed_passages(self, texts: list[str]) -> np.ndarray:
            stop.set()
            return super().embed_passages(texts)

    fake = Stopping()
    report = run_index(settings, bank, store, fake, stop=stop)
    assert report is not None and report.stopped and 0 < report.embedded < 120
    status = index_status(settings, bank)
    assert status is not None and status.state == "stopped" and not status.running
    rows = Jobs(bank).all()
    assert [r.lease_left_s for r in rows if r.name == job_name(settings.vectors.alias)] == [None]  # released
    other = Jobs(bank)
    other.holder = "replica-b:9"
    lease = other.claim(job_name(settings.vectors.alias))
    assert lease is not None and lease.took_over is None  # claimed at once, not taken over
