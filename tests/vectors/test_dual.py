"""Dual write during the migration window: pgvector (read by the application) and embedded Qdrant (being
filled) on real PostgreSQL. Writes reach both stores, reads come from the primary alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jindan.db.engine import Database
from jindan.vectors.base import CollectionSpec, Point, VectorStore, VectorStoreError
from jindan.vectors.dual import DualWriteStore
from jindan.vectors.pgvector import PgVectorStore
from jindan.vectors.qdrant_edge import QdrantEdgeStore

DIM = 8


@pytest.fixture()
def dual(db: Database, tmp_path: Path) -> Iterator[DualWriteStore]:
    store = DualWriteStore(PgVectorStore(db.engine), QdrantEdgeStore(tmp_path / "edge"))
    store.create(CollectionSpec(name="c", dim=DIM, payload_indexes={}))
    yield store
    store.close()


def points(*ids: int) -> list[Point]:
    rng = np.random.default_rng(0)
    return [Point(i, rng.normal(size=DIM).astype(np.float32), {"n": i}) for i in ids]


def test_it_is_a_whole_vector_store(dual: DualWriteStore) -> None:
    assert isinstance(dual, VectorStore) and dual.name == "pgvector+qdrant-edge"
    assert not hasattr(DualWriteStore, "__getattr__")  # every method is written out, none forwarded blindly


def test_upserts_and_deletes_reach_both_stores(dual: DualWriteStore) -> None:
    dual.upsert("c", points(1, 2, 3, 4, 5))
    assert dual.primary.count("c") == dual.secondary.count("c") == 5
    dual.delete("c", [2, 4])
    for side in (dual.primary, dual.secondary):
        assert sorted(map(int, side.ids("c"))) == [1, 3, 5]
        assert side.retrieve("c", [2, 4]) == []
    dual.delete("c", [])  # nothing to delete is not an error on either side
    assert dual.count("c") == dual.secondary.count("c") == 3


def test_alias_switch_and_drop_reach_both_stores(dual: DualWriteStore) -> None:
    dual.create(CollectionSpec(name="c2", dim=DIM, payload_indexes={}))
    dual.switch_alias("live", "c2")
    assert dual.primary.resolve("live") == dual.secondary.resolve("live") == "c2"
    dual.drop("c2")
    assert not dual.primary.exists("c2") and not dual.secondary.exists("c2")


def test_reads_come_from_the_primary(dual: DualWriteStore) -> None:
    dual.upsert("c", points(1, 2))
    dual.secondary.upsert("c", points(9))  # only Qdrant has 9: the application must not see it yet
    assert dual.count("c") == 2 and sorted(map(int, dual.ids("c"))) == [1, 2]
    assert dual.retrieve("c", [9]) == []
    assert {h.id for h in dual.search("c", points(9)[0].vector, k=5)} == {1, 2}
    assert dual.spec("c").dim == DIM and dual.exists("c") and "c" in dual.collections()


def test_a_write_the_secondary_refuses_still_reaches_the_primary(dual: DualWriteStore) -> None:
    dual.secondary.drop("c")  # Qdrant lost the collection mid-window
    with pytest.raises(VectorStoreError):
        dual.upsert("c", points(7))
    assert dual.primary.count("c") == 1  # the store the application reads has it; `migrate sync` repairs Qdrant
