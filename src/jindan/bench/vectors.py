"""`jindan bench vectors`: the same clustered 384-d data in embedded Qdrant and in pgvector, one run.

Data: a Gaussian mixture (many clusters of different spread, like real embeddings), L2-normalised; queries are
held-out draws from the same mixture. Both stores build HNSW with the same M and ef_construct and search with
the same ef; recall@10 is measured against exact (brute-force) neighbours computed with numpy.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from jindan.bench.stats import pct
from jindan.vectors.base import CollectionSpec, Point

DIM = 384
Progress = Callable[[str], None]


def clustered(n: int, queries: int, *, dim: int = DIM, clusters: int = 200, seed: int = 7) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    spread = rng.uniform(0.3, 1.2, size=clusters).astype(np.float32)
    weights = rng.dirichlet(np.ones(clusters))

    def draw(m: int) -> npt.NDArray[np.float32]:
        labels = rng.choice(clusters, size=m, p=weights)
        x = centers[labels] + spread[labels, None] * rng.normal(size=(m, dim)).astype(np.float32)
        out: npt.NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
        return out

    return draw(n), draw(queries)


def exact_top(data: Any, queries: Any, k: int) -> npt.NDArray[np.int64]:
    out = np.empty((len(queries), k), dtype=np.int64)
    for i in range(0, len(queries), 256):
        sims = queries[i : i + 256] @ data.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1)
        out[i : i + 256] = np.take_along_axis(top, order, 1)
    return out


def _measure(search: Callable[[Any], list[int]], queries: Any, truth: Any, k: int) -> dict[str, float]:
    for q in queries[:10]:
        search(q)  # warm caches and connections
    times, recalls = [], []
    start = time.perf_counter()
    for q, t in zip(queries, truth, strict=True):
        t0 = time.perf_counter()
        ids = search(q)
        times.append((time.perf_counter() - t0) * 1000)
        recalls.append(len(set(ids[:k]) & set(t.tolist())) / k)
    wall = time.perf_counter() - start
    return {
        "p50_ms": round(pct(times, 50), 3),
        "p95_ms": round(pct(times, 95), 3),
        "qps": round(len(queries) / wall, 1),
        "recall_at_10": round(float(np.mean(recalls)), 4),
    }


def bench_edge(root: Path, data: Any, queries: Any, truth: Any, m: int, ef_construct: int, ef: int) -> dict[str, Any]:
    from jindan.vectors.qdrant_edge import QdrantEdgeStore

    store = QdrantEdgeStore(root)
    name = "bench"
    start = time.perf_counter()
    store.create(
        CollectionSpec(name=name, dim=data.shape[1], hnsw_m=m, hnsw_ef_construct=ef_construct, payload_indexes={})
    )
    for i in range(0, len(data), 2000):
        store.upsert(name, [Point(i + j, v) for j, v in enumerate(data[i : i + 2000])])
    upsert_s = time.perf_counter() - start
    store.optimize(name)  # HNSW build
    load_s = time.perf_counter() - start
    result = _measure(lambda q: [int(h.id) for h in store.search(name, q, k=10, ef=ef)], queries, truth, 10)
    store.close()
    return {**result, "load_s": round(load_s, 1), "upsert_s": round(upsert_s, 1)}


def bench_pgvector(
    engine: Any, data: Any, queries: Any, truth: Any, m: int, ef_construct: int, ef: int
) -> dict[str, Any]:
    from pgvector.psycopg import register_vector

    table = f"bench_{uuid.uuid4().hex[:8]}"
    raw = engine.raw_connection()
    conn = raw.driver_connection
    try:
        conn.autocommit = True
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        start = time.perf_counter()
        conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, embedding vector({data.shape[1]}))")
        with conn.cursor().copy(f"COPY {table} (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "vector"])
            for i, v in enumerate(data):
                copy.write_row((i, v))
        copy_s = time.perf_counter() - start
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {m}, ef_construction = {ef_construct})"
        )
        load_s = time.perf_counter() - start
        conn.execute(f"SET hnsw.ef_search = {ef}")
        sql = f"SELECT id FROM {table} ORDER BY embedding <=> %s LIMIT 10"
        cur = conn.cursor()

        def search(q: Any) -> list[int]:
            return [r[0] for r in cur.execute(sql, (q,), prepare=True).fetchall()]

        result = _measure(search, queries, truth, 10)
        return {**result, "load_s": round(load_s, 1), "copy_s": round(copy_s, 1)}
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        raw.close()


def run(
    engine: Any,
    workdir: Path,
    *,
    points: int,
    queries: int = 500,
    m: int = 16,
    ef_construct: int = 100,
    ef: int = 64,
    progress: Progress | None = None,
) -> dict[str, Any]:
    say = progress or (lambda _msg: None)
    say(f"generating {points} clustered vectors")
    data, qs = clustered(points, queries)
    truth = exact_top(data, qs, 10)
    say("embedded Qdrant: upsert + HNSW build + queries")
    edge = bench_edge(workdir / f"edge-{uuid.uuid4().hex[:6]}", data, qs, truth, m, ef_construct, ef)
    say("pgvector: COPY + HNSW build + queries")
    pg = bench_pgvector(engine, data, qs, truth, m, ef_construct, ef)
    return {
        "points": points,
        "dim": DIM,
        "queries": queries,
        "hnsw": {"m": m, "ef_construct": ef_construct, "ef": ef},
        "qdrant": edge,
        "pgvector": pg,
        "p50_ratio_qdrant_over_pgvector": round(edge["p50_ms"] / pg["p50_ms"], 3) if pg["p50_ms"] else None,
    }
