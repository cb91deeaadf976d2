"""The contract every vector store passes: Qdrant server (qdrant-client local mode, same API), embedded
Qdrant (qdrant-edge), pgvector on real PostgreSQL, and the migration window's dual write (pgvector read,
embedded Qdrant written alongside; after every test the secondary holds exactly what the primary holds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from jindan.db.engine import Database
from jindan.vectors.base import (
    CollectionNotFound,
    CollectionSpec,
    Filter,
    ModelMismatch,
    Point,
    VectorStore,
    VectorStoreError,
)
from jindan.vectors.dual import DualWriteStore
from jindan.vectors.qdrant_edge import QdrantEdgeStore

DIM = 16


@pytest.fixture(params=["qdrant-edge", "qdrant", "pgvector", "dual"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "qdrant-edge":
        s: VectorStore = QdrantEdgeStore(tmp_path / "edge")
    elif request.param == "qdrant":
        from qdrant_client import QdrantClient

        from jindan.vectors.qdrant import QdrantStore

        s = QdrantStore(client=QdrantClient(":memory:"))
    elif request.param == "pgvector":
        from jindan.vectors.pgvector import PgVectorStore

        db: Database = request.getfixturevalue("db")
        s = PgVectorStore(db.engine)
    else:
        from jindan.vectors.pgvector import PgVectorStore

        db = request.getfixturevalue("db")
        s = DualWriteStore(PgVectorStore(db.engine), QdrantEdgeStore(tmp_path / "edge"))
    yield s
    if isinstance(s, DualWriteStore):  # every write reached the secondary too
        primary, secondary = s.primary, s.secondary
        assert primary.collections() == secondary.collections()
        for name in primary.collections():
            assert sorted(map(str, primary.ids(name))) == sorted(map(str, secondary.ids(name))), name
    s.close()


def data(n: int = 300, seed: int = 0) -> list[Point]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, DIM))
    points = []
    for i in range(n):
        c = i % 6
        v = (centers[c] + 0.3 * rng.normal(size=DIM)).astype(np.float32)
        payload = {
            "subject": ["Algebra", "Geometry", "Number Theory"][c % 3],
            "level": 1 + i % 5,
            "concepts": [f"c{c}", f"c{(c + 1) % 6}"],
            "difficulty": round((i % 10) / 10, 1),
            "source": "t",
        }
        points.append(Point(i + 1, v, payload))
    return points


def spec(name: str = "questions_v1", distance: str = "cosine") -> CollectionSpec:
    return CollectionSpec(name=name, dim=DIM, distance=distance, model_id="test-embedder")  # type: ignore[arg-type]


def loaded(store: VectorStore, name: str = "questions_v1", distance: str = "cosine") -> list[Point]:
    points = data()
    store.create(spec(name, distance))
    for i in range(0, len(points), 100):
        store.upsert(name, points[i : i + 100])
    return points


def test_create_records_the_spec_and_refuses_duplicates(store: VectorStore) -> None:
    store.create(spec())
    got = store.spec("questions_v1")
    assert (got.dim, got.distance, got.model_id) == (DIM, "cosine", "test-embedder")
    assert store.exists("questions_v1") and "questions_v1" in store.collections()
    with pytest.raises(VectorStoreError, match="already exists"):
        store.create(spec())
    with pytest.raises(ModelMismatch, match="test-embedder"):
        got.check_query("other-model", DIM)
    with pytest.raises(CollectionNotFound):
        store.spec("nope")


def test_upsert_count_retrieve_ids_delete(store: VectorStore) -> None:
    points = loaded(store)
    assert store.count("questions_v1") == 300
    store.upsert("questions_v1", points[:10])  # idempotent
    assert store.count("questions_v1") == 300
    (p,) = store.retrieve("questions_v1", [7], with_vectors=True)
    unit = points[6].vector / np.linalg.norm(points[6].vector)
    assert p.id == 7 and p.payload["subject"] == points[6].payload["subject"]
    assert np.allclose(p.vector / np.linalg.norm(p.vector), unit, atol=1e-5)
    assert sorted(store.ids("questions_v1", batch=64)) == list(range(1, 301))
    store.delete("questions_v1", [1, 2, 3])
    assert store.count("questions_v1") == 297 and store.retrieve("questions_v1", [1]) == []


def test_nearest_neighbour_and_scores(store: VectorStore) -> None:
    points = loaded(store)
    hits = store.search("questions_v1", points[42].vector, k=5)
    assert hits[0].id == 43 and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].payload["subject"] == points[42].payload["subject"]


def test_filters_hold_and_fill_k(store: VectorStore) -> None:
    points = loaded(store)
    flt = Filter(
        equals={"subject": "Geometry"}, any_of={"concepts": ["c1", "c4"]}, ranges={"level": (2, 4)}, exclude_ids=[2]
    )
    hits = store.search("questions_v1", points[0].vector, k=10, flt=flt)
    expected = [
        p
        for p in points
        if p.payload["subject"] == "Geometry"
        and {"c1", "c4"} & set(p.payload["concepts"])
        and 2 <= p.payload["level"] <= 4
        and p.id != 2
    ]
    assert len(hits) == min(10, len(expected)) > 0
    for h in hits:
        assert h.payload["subject"] == "Geometry" and 2 <= h.payload["level"] <= 4 and h.id != 2
    assert store.count("questions_v1", flt) == len(expected)


def test_exact_search_is_ground_truth(store: VectorStore) -> None:
    points = loaded(store)
    q = points[5].vector + 0.1
    exact = store.search("questions_v1", q, k=10, exact=True)
    mat = np.stack([p.vector / np.linalg.norm(p.vector) for p in points])
    truth = [points[i].id for i in np.argsort(-(mat @ (q / np.linalg.norm(q))))[:10]]
    assert [h.id for h in exact] == truth
    approx = store.search("questions_v1", q, k=10)
    assert len({h.id for h in approx} & set(truth)) >= 9


@pytest.mark.parametrize("distance", ["dot", "euclid"])
def test_other_distances_follow_qdrant_score_conventions(store: VectorStore, distance: str) -> None:
    points = loaded(store, "d_" + distance, distance)
    q = points[10].vector
    hits = store.search("d_" + distance, q, k=5, exact=True)
    mat = np.stack([p.vector for p in points])
    if distance == "dot":
        truth = np.argsort(-(mat @ q))[:5]
        assert hits[0].score == pytest.approx(float(mat[truth[0]] @ q), rel=1e-4)
    else:
        truth = np.argsort(np.linalg.norm(mat - q, axis=1))[:5]
        assert hits[0].score == pytest.approx(0.0, abs=1e-3)
    assert [h.id for h in hits] == [points[i].id for i in truth]


def test_alias_reads_and_switches(store: VectorStore) -> None:
    points = loaded(store, "questions_v1")
    store.create(spec("questions_v2"))
    store.upsert("questions_v2", points[:50])
    store.switch_alias("questions", "questions_v1")
    assert store.resolve("questions") == "questions_v1" and store.count("questions") == 300
    store.switch_alias("questions", "questions_v2")
    assert store.resolve("questions") == "questions_v2" and store.count("questions") == 50
    assert store.search("questions", points[0].vector, k=1)[0].id == 1
    assert store.spec("questions").name == "questions_v2"
    with pytest.raises(CollectionNotFound):
        store.switch_alias("questions", "missing")


def test_string_keys_round_trip(store: VectorStore) -> None:
    store.create(spec("materials"))
    rng = np.random.default_rng(1)
    store.upsert(
        "materials",
        [
            Point("mat-1", rng.normal(size=DIM).astype(np.float32), {"kind": "material"}),
            Point("mat-2", rng.normal(size=DIM).astype(np.float32), {"kind": "material"}),
        ],
    )
    (p,) = store.retrieve("materials", ["mat-2"])
    assert p.id == "mat-2" and p.payload == {"kind": "material"}
    hits = store.search("materials", rng.normal(size=DIM).astype(np.float32), k=2, flt=Filter(exclude_ids=["mat-1"]))
    assert [h.id for h in hits] == ["mat-2"]
    store.delete("materials", ["mat-1"])
    assert sorted(map(str, store.ids("materials"))) == ["mat-2"]


def test_int8_quantization_reaches_the_engine(store: VectorStore) -> None:
    if store.name.startswith("pgvector"):  # pgvector alone, or as the primary of a dual write
        with pytest.raises(VectorStoreError, match="Qdrant feature"):
            store.create(CollectionSpec(name="q8", dim=DIM, quantization="int8"))
        assert not store.exists("q8") and "q8" not in store.collections()
        return
    points = data()
    store.create(CollectionSpec(name="q8", dim=DIM, quantization="int8", payload_indexes={}))
    store.upsert("q8", points)
    if isinstance(store, QdrantEdgeStore):  # what the engine itself recorded, not jindan's own spec file
        config = json.loads((store.root / "q8" / "shard" / "edge_config.json").read_text())
        assert config["quantization_config"] == {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
    # qdrant-client's local mode keeps no quantization: the request a Qdrant server receives is pinned in
    # tests/vectors/test_qdrant_wire.py
    hits = store.search("q8", points[3].vector, k=5)
    assert hits[0].id == 4 and hits[0].score == pytest.approx(1.0, abs=1e-3)  # rescored with the originals
