"""`jindan bench migrate`: an N-row 384-d pgvector table migrated into the embedded Qdrant, then verified.

Anchor: qdrant/migration moved 500k points in 250 s sequentially (2k points/s), into a server that builds
its HNSW index in the background; so ``points_per_s`` is the copy, and the embedded engine's index build,
which `migrate run` does before it returns, is reported beside it as ``index_s``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jindan.bench.vectors import clustered
from jindan.db.engine import Database
from jindan.migrate.plan import inspect_source
from jindan.migrate.run import migrate
from jindan.migrate.verify import verify
from jindan.vectors.qdrant_edge import QdrantEdgeStore


def build_source(db: Database, table: str, points: int) -> None:
    from pgvector.psycopg import register_vector

    data, _ = clustered(points, 1)
    raw = db.engine.raw_connection()
    conn: Any = raw.driver_connection
    try:
        conn.autocommit = True
        register_vector(conn)
        conn.execute(
            f"CREATE TABLE {table} (id bigint PRIMARY KEY, embedding vector({data.shape[1]}), "
            "subject text, level int, updated_at timestamptz DEFAULT now())"
        )
        with conn.cursor().copy(f"COPY {table} (id, embedding, subject, level) FROM STDIN WITH (FORMAT BINARY)") as cp:
            cp.set_types(["int8", "vector", "text", "int4"])
            for i, v in enumerate(data):
                cp.write_row((i + 1, v, ("Algebra", "Geometry", "Number Theory")[i % 3], 1 + i % 5))
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops)")
    finally:
        raw.close()


def run(
    db: Database, workdir: Path, *, points: int, readers: int = 4, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    table = f"bench_src_{uuid.uuid4().hex[:8]}"
    say(f"building a {points}-row pgvector table (COPY + HNSW)")
    build_source(db, table, points)
    store = QdrantEdgeStore(workdir)
    try:
        plan = inspect_source(db.engine, f"public.{table}", target="bench")
        say("migrating")
        start = time.perf_counter()
        report = migrate(db, store, plan, readers=readers, batch=2000, phase=say)
        run_s = time.perf_counter() - start - report.index_s  # the copy, setup included
        say("verifying (sampled vectors and payloads, full id sets, 50 search probes)")
        start = time.perf_counter()
        check = verify(db, store, plan, sample=1000, queries=50)
        verify_s = time.perf_counter() - start
        return {
            "points": points,
            "readers": readers,
            "points_per_s": round(report.copied / run_s, 1),
            "run_s": round(run_s, 2),
            "index_s": round(report.index_s, 2),
            "verify_s": round(verify_s, 2),
            "verify_passed": check.passed,
            "checks": {c.name: c.passed for c in check.checks},
            "search": next((c.detail for c in check.checks if c.name == "search"), {}),
        }
    finally:
        store.close()
        with db.engine.begin() as c:
            from sqlalchemy import text

            c.execute(text(f"DROP TABLE IF EXISTS {table}"))
