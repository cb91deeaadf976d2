"""`migrate run` into a Qdrant cluster, against a local HTTP server answering as Qdrant's REST API does: the
exact requests a cluster receives (the collection created with the configured shards, replicas and write
consistency; every batch written with ``wait=true`` and the configured ordering), then the exact count and
the shard replicas read back, on a real PostgreSQL + pgvector source."""

from __future__ import annotations

from typing import Any

import psycopg
from pytest_httpserver import HTTPServer

from jindan.db.engine import Database
from jindan.migrate.plan import inspect_source
from jindan.migrate.run import migrate
from jindan.migrate.verify import verify
from jindan.vectors.qdrant import QdrantStore

OK = {"status": "ok", "time": 0.0002}
DONE = {"result": {"operation_id": 7, "status": "completed"}, **OK}
ROWS = [(1, "[1,0,0]", "Algebra"), (2, "[0,0.5,0.5]", "Geometry"), (3, None, "Algebra"), (4, "[0,0,2]", "Algebra")]


def make_source(db_url: str) -> None:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute("CREATE SCHEMA legacy")
        c.execute("CREATE TABLE legacy.small (id bigint PRIMARY KEY, embedding vector(3), subject text)")
        for row in ROWS:
            c.execute("INSERT INTO legacy.small VALUES (%s, %s::vector, %s)", row)
        c.execute("CREATE INDEX ON legacy.small USING hnsw (embedding vector_cosine_ops)")


def layout(states: list[tuple[int, int, str]], here: int = 1) -> dict[str, Any]:
    return {
        "result": {
            "peer_id": here,
            "shard_count": len({s for s, _, _ in states}),
            "local_shards": [{"shard_id": s, "points_count": 1, "state": st} for s, p, st in states if p == here],
            "remote_shards": [{"shard_id": s, "peer_id": p, "state": st} for s, p, st in states if p != here],
            "shard_transfers": [],
        },
        **OK,
    }


def test_a_migration_writes_with_the_configured_consistency_and_counts(db: Database, httpserver: HTTPServer) -> None:
    make_source(db.url)
    plan = inspect_source(db.engine, "legacy.small", target="small")
    expect = httpserver.expect_ordered_request
    for _ in range(2):  # ensure_target asks, then create does
        expect("/collections/small/exists", method="GET").respond_with_json({"result": {"exists": False}, **OK})
    expect(
        "/collections/small",
        method="PUT",
        json={
            "vectors": {"size": 3, "distance": "Cosine"},
            "shard_number": 3,
            "replication_factor": 2,
            "write_consistency_factor": 2,
            "hnsw_config": {"m": 16, "ef_construct": 100},
            "metadata": {
                "jindan_spec": {
                    "name": "small",
                    "dim": 3,
                    "distance": "cosine",
                    "model_id": "legacy-model",
                    "hnsw_m": 16,
                    "hnsw_ef_construct": 100,
                    "quantization": None,
                    "payload_indexes": {"subject": "keyword"},
                    "sparse": False,
                }
            },
        },
    ).respond_with_json({"result": True, **OK})
    expect(
        "/collections/small/index",
        method="PUT",
        query_string="wait=true",
        json={"field_name": "subject", "field_schema": "keyword"},
    ).respond_with_json(DONE)
    expect(
        "/collections/small/points",
        method="PUT",
        query_string="wait=true&ordering=strong",  # acknowledged by 2 replicas, through the shard's leader
        json={
            "points": [
                {"id": 1, "vector": [1.0, 0.0, 0.0], "payload": {"subject": "Algebra"}},
                {"id": 2, "vector": [0.0, 0.5, 0.5], "payload": {"subject": "Geometry"}},
            ]
        },
    ).respond_with_json(DONE)
    expect(
        "/collections/small/points",
        method="PUT",
        query_string="wait=true&ordering=strong",
        json={"points": [{"id": 4, "vector": [0.0, 0.0, 2.0], "payload": {"subject": "Algebra"}}]},
    ).respond_with_json(DONE)
    expect("/collections/small/points/count", method="POST", json={"exact": True}).respond_with_json(
        {"result": {"count": 3}, **OK}
    )
    expect("/aliases", method="GET").respond_with_json({"result": {"aliases": []}, **OK})
    states = [(0, 1, "Active"), (0, 2, "Active"), (1, 2, "Active"), (1, 3, "Dead"), (2, 3, "Active"), (2, 1, "Active")]
    expect("/collections/small/cluster", method="GET").respond_with_json(layout(states))

    from qdrant_client import QdrantClient

    client = QdrantClient(url=httpserver.url_for("").rstrip("/"), check_compatibility=False)  # no racing GET /
    store = QdrantStore(
        client=client,
        shard_number=3,
        replication_factor=2,
        write_consistency_factor=2,
        write_ordering="strong",
    )
    report = migrate(db, store, plan, readers=1, batch=2, model_id="legacy-model")
    httpserver.check_assertions()
    assert len(httpserver.log) == 9
    assert (report.copied, report.null_vectors, report.expected, report.counted) == (3, ["3"], 3, 3)
    assert report.counts_match
    assert report.shards == [
        {"shard": 0, "peer": 1, "state": "Active", "points": 1},
        {"shard": 0, "peer": 2, "state": "Active", "points": None},
        {"shard": 1, "peer": 2, "state": "Active", "points": None},
        {"shard": 1, "peer": 3, "state": "Dead", "points": None},
        {"shard": 2, "peer": 1, "state": "Active", "points": 1},
        {"shard": 2, "peer": 3, "state": "Active", "points": None},
    ]
    store.close()


def test_verify_fails_while_a_shard_replica_is_down(db: Database, httpserver: HTTPServer) -> None:
    """`migrate verify`'s shards check: a cutover waits until every replica holds the copy."""
    from jindan.migrate import verify as verify_module

    class Local(QdrantStore):
        def __init__(self, states: list[tuple[int, int, str]]) -> None:
            from qdrant_client import QdrantClient

            super().__init__(client=QdrantClient(":memory:"))
            self.states = states

        def shards(self, collection: str) -> list[dict[str, Any]]:
            return [{"shard": s, "peer": p, "state": st, "points": None} for s, p, st in self.states]

    make_source(db.url)
    plan = inspect_source(db.engine, "legacy.small", target="small")
    store = Local([(0, 1, "Active"), (0, 2, "Dead")])
    migrate(db, store, plan, readers=1, batch=10)
    checks = {c.name: c for c in verify(db, store, plan, sample=3, queries=1).checks}
    assert not checks["shards"].passed and checks["shards"].detail["not_active"] == 1
    assert checks["count"].passed and checks["ids"].passed
    store.states = [(0, 1, "Active"), (0, 2, "Active")]
    assert verify_module.verify(db, store, plan, sample=3, queries=1).passed
    store.close()
