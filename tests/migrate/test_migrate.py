"""pgvector -> Qdrant on real PostgreSQL + pgvector, into embedded Qdrant and the Qdrant client API."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from sqlalchemy import text

from jindan.db.engine import Database
from jindan.migrate.cutover import CutoverRefused, cutover, record, rollback, sync
from jindan.migrate.plan import PlanError, inspect_source
from jindan.migrate.run import as_array, migrate
from jindan.migrate.verify import verify
from jindan.vectors.base import CollectionSpec, Point, VectorStore
from jindan.vectors.qdrant_edge import QdrantEdgeStore

DIM = 16


def make_source(
    db_url: str, rows: int = 3000, *, opclass: str = "vector_cosine_ops", text_keys: bool = False, nulls: int = 5
) -> None:
    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    rng = np.random.default_rng(3)
    with psycopg.connect(url, autocommit=True) as c:
        register_vector(c)
        c.execute("CREATE SCHEMA IF NOT EXISTS legacy")
        key = "text" if text_keys else "bigint"
        c.execute(
            f"CREATE TABLE legacy.question_vectors (id {key} PRIMARY KEY, embedding vector({DIM}), subject text, "
            "level int, score numeric, tags text[], meta jsonb, updated_at timestamptz DEFAULT now())"
        )
        with c.cursor().copy(
            "COPY legacy.question_vectors (id, embedding, subject, level, score, tags, meta) "
            "FROM STDIN WITH (FORMAT BINARY)"
        ) as cp:
            cp.set_types([key if key == "text" else "int8", "vector", "text", "int4", "numeric", "text[]", "jsonb"])
            for i in range(rows):
                vec = None if i < nulls else rng.normal(size=DIM).astype(np.float32)
                k: Any = f"q-{i:05d}" if text_keys else i + 1
                cp.write_row(
                    (
                        k,
                        vec,
                        ["Algebra", "Geometry"][i % 2],
                        i % 5,
                        Decimal(i) / 1000,
                        ["t1", f"t{i % 3}"],
                        psycopg.types.json.Jsonb({"src": "legacy", "n": i}),
                    )
                )
        c.execute(f"CREATE INDEX ON legacy.question_vectors USING hnsw (embedding {opclass})")


@pytest.fixture(params=["qdrant-edge", "qdrant"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "qdrant-edge":
        store: VectorStore = QdrantEdgeStore(tmp_path / "edge")
    else:
        from qdrant_client import QdrantClient

        from jindan.vectors.qdrant import QdrantStore

        store = QdrantStore(client=QdrantClient(":memory:"))
    yield store
    store.close()


def test_plan_reads_the_source(db: Database, db_url: str) -> None:
    make_source(db_url)
    plan = inspect_source(db.engine, "legacy.question_vectors")
    assert (plan.key, plan.dim, plan.distance, plan.rows, plan.null_vectors) == ("id", DIM, "cosine", 3000, 5)
    assert {c.name for c in plan.payload} == {"subject", "level", "score", "tags", "meta", "updated_at"}
    assert plan.updated_at == "updated_at" and plan.integer_key
    with pytest.raises(PlanError, match="contradicts the source index"):
        inspect_source(db.engine, "legacy.question_vectors", distance="dot")
    with pytest.raises(PlanError, match="not found"):
        inspect_source(db.engine, "legacy.nope")


def test_run_verify_cutover_rollback(db: Database, db_url: str, target: VectorStore) -> None:
    make_source(db_url)
    plan = inspect_source(db.engine, "legacy.question_vectors", target="questions_v2")
    report = migrate(db, target, plan, readers=3, batch=256)
    assert report.copied == 2995 and len(report.null_vectors) == 5  # NULL vectors reported, not silently lost
    (p,) = target.retrieve("questions_v2", [100], with_vectors=True)
    assert p.payload["level"] == 99 % 5 and isinstance(p.payload["score"], float)  # numbers stay numbers
    assert p.payload["tags"] == ["t1", "t0"] and p.payload["meta"] == {"src": "legacy", "n": 99}
    assert p.payload["updated_at"].endswith("+00:00") and isinstance(p.payload["updated_at_ts"], float)
    result = verify(db, target, plan, full=True)
    assert result.passed, result.to_dict()
    with pytest.raises(CutoverRefused, match="no passing verify"):
        cutover(db, target, "questions", "questions_v2")
    record(db, "verify", "questions_v2", result.to_dict())
    assert cutover(db, target, "questions", "questions_v2") is None
    assert target.resolve("questions") == "questions_v2"


def test_wrong_metric_is_caught_by_verify(db: Database, db_url: str, tmp_path: Path) -> None:
    make_source(db_url, rows=500, opclass="vector_l2_ops")
    store = QdrantEdgeStore(tmp_path / "edge")
    plan = inspect_source(db.engine, "legacy.question_vectors", target="wrong")
    assert plan.distance == "euclid"
    store.create(CollectionSpec(name="wrong", dim=DIM, distance="cosine", payload_indexes={}))  # someone's mistake
    with pytest.raises(ValueError, match="exists with 16-d cosine"):
        migrate(db, store, plan)
    rows = store  # copy by hand with the wrong metric, as a careless script would
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as c:
        register_vector(c)
        rows.upsert(
            "wrong",
            [
                Point(int(k), as_array(v))
                for k, v in c.execute("SELECT id, embedding FROM legacy.question_vectors WHERE embedding IS NOT NULL")
            ],
        )
    result = verify(db, store, plan)
    checks = {c.name: c for c in result.checks}
    assert not result.passed and not checks["distance"].passed and checks["count"].passed
    assert not checks["search"].passed  # the neighbours differ too: caught from the data, not only the spec
    assert checks["search"].detail["exact_recall_at_10"] < 0.9
    store.close()


def test_empty_table_and_text_keys(db: Database, db_url: str, tmp_path: Path) -> None:
    make_source(db_url, rows=0, nulls=0)
    store = QdrantEdgeStore(tmp_path / "edge")
    plan = inspect_source(db.engine, "legacy.question_vectors", target="empty")
    assert migrate(db, store, plan).copied == 0
    report = verify(db, store, plan)
    assert report.passed
    assert [c.name for c in report.checks] == ["distance", "count", "ids", "vectors", "payloads", "search"]
    search = next(c.detail for c in report.checks if c.name == "search")
    assert (search["queries"], search["exact_recall_at_10"], search["recall_at_10"]) == (0, 1.0, 1.0)
    store.close()


def test_text_keys_become_uuid5_with_the_key_in_the_payload(db: Database, db_url: str, tmp_path: Path) -> None:
    make_source(db_url, rows=300, text_keys=True, nulls=0)
    store = QdrantEdgeStore(tmp_path / "edge")
    plan = inspect_source(db.engine, "legacy.question_vectors", target="texty")
    assert migrate(db, store, plan, readers=2, batch=50).copied == 300
    assert sorted(store.ids("texty")) == [f"q-{i:05d}" for i in range(300)]
    assert verify(db, store, plan, full=True).passed
    store.close()


def test_sync_catches_changes_and_deletions(db: Database, db_url: str, tmp_path: Path) -> None:
    make_source(db_url, rows=200, nulls=0)
    store = QdrantEdgeStore(tmp_path / "edge")
    plan = inspect_source(db.engine, "legacy.question_vectors", target="synced")
    migrate(db, store, plan)
    time.sleep(0.01)
    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as c:
        register_vector(c)
        c.execute(
            "UPDATE legacy.question_vectors SET subject = 'Changed', embedding = %s, updated_at = now() WHERE id = 7",
            (np.ones(DIM, dtype=np.float32),),
        )
        c.execute("DELETE FROM legacy.question_vectors WHERE id = 9")
    detail = sync(db, store, plan, overlap_s=0)
    assert detail["upserted"] == 1 and detail["deleted"] == 1
    assert store.retrieve("synced", [7])[0].payload["subject"] == "Changed"
    assert store.retrieve("synced", [9]) == [] and verify(db, store, plan, full=True).passed
    assert sync(db, store, plan, overlap_s=0)["upserted"] == 0  # the watermark moved
    with psycopg.connect(url, autocommit=True) as c:
        # a writer that stamped updated_at before the last sync but committed after it
        c.execute(
            "UPDATE legacy.question_vectors SET subject = 'Late', updated_at = now() - interval '5 s' WHERE id = 8"
        )
        c.execute("DELETE FROM legacy.question_vectors WHERE id = 10")  # deleted, then the key comes back
        c.execute(
            "INSERT INTO legacy.question_vectors (id, embedding, subject) "
            "SELECT 10, embedding, 'Back' FROM legacy.question_vectors WHERE id = 11"
        )
        c.execute("UPDATE legacy.question_vectors SET embedding = NULL, updated_at = now() WHERE id = 12")
    assert sync(db, store, plan, overlap_s=0)["upserted"] == 1  # only id 10: without the overlap, 8 is lost
    assert store.retrieve("synced", [8])[0].payload["subject"] != "Late"
    detail = sync(db, store, plan)  # the default overlap (60 s) reads the late writer again
    assert store.retrieve("synced", [8])[0].payload["subject"] == "Late"
    assert store.retrieve("synced", [10])[0].payload["subject"] == "Back"  # the log's delete does not win
    assert store.retrieve("synced", [12]) == []  # a vector set to NULL leaves the index
    assert verify(db, store, plan, full=True).passed
    store.close()


def test_rollback_returns_to_the_previous_collection_or_pgvector(db: Database, tmp_path: Path) -> None:
    store = QdrantEdgeStore(tmp_path / "edge")
    for name in ("v1", "v2"):
        store.create(CollectionSpec(name=name, dim=DIM, payload_indexes={}))
        record(db, "verify", name, {"passed": True})
    env = tmp_path / ".env"
    assert "pgvector" in rollback(db, store, "questions", env_file=env)  # nothing to go back to: pgvector
    assert "JINDAN_VECTORS__STORE=pgvector" in env.read_text()
    cutover(db, store, "questions", "v1")
    cutover(db, store, "questions", "v2")
    assert rollback(db, store, "questions", env_file=env) == "alias 'questions' -> v1"
    assert store.resolve("questions") == "v1"
    store.close()


def _checkpoints(db: Database, target: str) -> int:
    with db.engine.connect() as c:
        return int(
            c.execute(
                text(
                    "SELECT count(*) FROM migration_checkpoints c JOIN migration_runs r ON r.id = c.run_id "
                    "WHERE r.target = :t"
                ),
                {"t": target},
            ).scalar_one()
        )


@pytest.mark.parametrize(("mode", "rows"), [("qdrant-edge", 30_000), ("qdrant", 4_000)])
def test_sigkill_at_random_points_then_resume(db: Database, db_url: str, tmp_path: Path, mode: str, rows: int) -> None:
    """Kill `jindan migrate run` with SIGKILL several times; the resumed run ends with the exact data.

    Both Qdrant modes: the embedded engine, and the qdrant-client code path used for a server (here its local
    mode on disk, which commits every point to SQLite: slower, hence fewer rows)."""
    make_source(db_url, rows=rows, nulls=3)
    env = {
        **os.environ,
        "JINDAN_DATABASE__URL": db_url,
        "JINDAN_HOME": str(tmp_path),
        "JINDAN_VECTORS__STORE": mode,
        "JINDAN_QDRANT__PATH": str(tmp_path / "qdrant-local"),
    }
    cmd = [
        sys.executable,
        "-m",
        "jindan.cli.main",
        "migrate",
        "run",
        "--source",
        "legacy.question_vectors",
        "--target",
        "killed",
        "--readers",
        "2",
        "--batch",
        "300" if mode == "qdrant-edge" else "50",
    ]
    rng = random.Random(11)
    kills = 0
    for _ in range(4):  # each time: wait until it has made progress, then kill it a random moment later
        seen = _checkpoints(db, "killed")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while _checkpoints(db, "killed") <= seen + 1 and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is not None:
            break  # it finished first
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    said = final.stdout + final.stderr
    assert final.returncode == 0, said
    assert kills >= 3 and "(resumed)" in said, said
    if mode == "qdrant-edge":
        store: VectorStore = QdrantEdgeStore(tmp_path / "qdrant")
    else:
        from jindan.vectors.qdrant import QdrantStore

        store = QdrantStore(path=str(tmp_path / "qdrant-local"))
    plan = inspect_source(db.engine, "legacy.question_vectors", target="killed")
    result = verify(db, store, plan, full=True)
    assert result.passed, result.to_dict()
    assert store.count("killed") == rows - 3 and len(set(store.ids("killed"))) == rows - 3
    store.close()


def test_cli_plan_run_verify_cutover_rollback(db_url: str, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from jindan.cli.main import app

    make_source(db_url, rows=400, nulls=2)
    runner = CliRunner()
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path), "JINDAN_VECTORS__STORE": "qdrant-edge"}
    src = ["--source", "legacy.question_vectors", "--target", "qv2"]
    plan = runner.invoke(app, ["migrate", "plan", *src], env=env)
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["distance"] == "cosine"
    bad = runner.invoke(app, ["migrate", "plan", "--source", "legacy.question_vectors", "--distance", "dot"], env=env)
    assert bad.exit_code == 2 and "contradicts" in bad.output
    assert runner.invoke(app, ["migrate", "cutover", "--target", "qv2"], env=env).exit_code == 1  # not verified
    run = runner.invoke(app, ["migrate", "run", *src, "--readers", "2", "--batch", "100"], env=env)
    assert run.exit_code == 0 and "398 points" in run.output and "NULL vector" in run.output
    rerun = runner.invoke(app, ["migrate", "run", *src], env=env)
    assert rerun.exit_code == 0 and "already copied" in rerun.output  # a finished run is not repeated
    again = runner.invoke(app, ["migrate", "run", *src, "--again"], env=env)
    assert again.exit_code == 0 and "398 points" in again.output  # unless asked (same ids: no duplicates)
    verified = runner.invoke(app, ["migrate", "verify", *src, "--json", "--full"], env=env)
    assert verified.exit_code == 0 and json.loads(verified.stdout)["passed"] is True
    assert runner.invoke(app, ["migrate", "cutover", "--target", "qv2"], env=env).exit_code == 0
    back = runner.invoke(app, ["migrate", "rollback", "--env-file", str(tmp_path / ".env")], env=env)
    assert back.exit_code == 0 and "pgvector" in back.output
    synced = runner.invoke(app, ["migrate", "sync", *src, "--overlap", "0"], env=env)
    assert synced.exit_code == 0 and json.loads(synced.stdout)["upserted"] == 0


def test_source_in_another_database(db_url: str, pg_server: Any, tmp_path: Path) -> None:
    """The legacy vectors may live in another PostgreSQL: --source-url reads there, audit stays in jindan's."""
    import json

    from sqlalchemy.engine import make_url
    from typer.testing import CliRunner

    from jindan.cli.main import app

    name = f"legacy_{os.getpid()}_{random.randint(0, 10**6)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    other = make_url(pg_server.get_uri(database=name, driver="psycopg")).render_as_string(hide_password=False)
    with psycopg.connect(other.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
    make_source(other, rows=300, nulls=0)
    env = {
        "JINDAN_DATABASE__URL": db_url,
        "JINDAN_HOME": str(tmp_path),
        "JINDAN_VECTORS__STORE": "qdrant-edge",
        "JINDAN_MIGRATE_SOURCE_URL": other,
    }
    src = ["--source", "legacy.question_vectors", "--target", "elsewhere"]
    runner = CliRunner()
    run = runner.invoke(app, ["migrate", "run", *src], env=env)
    assert run.exit_code == 0 and "300 points" in run.output, run.output
    verified = runner.invoke(app, ["migrate", "verify", *src, "--json", "--full"], env=env)
    assert json.loads(verified.stdout)["passed"] is True
    no_source_here = runner.invoke(app, ["migrate", "plan", *src], env={**env, "JINDAN_MIGRATE_SOURCE_URL": ""})
    assert no_source_here.exit_code == 2 and "not found" in no_source_here.output  # jindan's own DB lacks it
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
