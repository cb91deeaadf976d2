"""The payload a row becomes (one definition, built in PostgreSQL) and the batch decoding, on real PostgreSQL."""

from __future__ import annotations

import uuid

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from jindan.db.engine import Database
from jindan.migrate.plan import inspect_source
from jindan.migrate.source import batches, connect, decode_vectors


def _conn(db_url: str) -> psycopg.Connection:
    conn = psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    register_vector(conn)
    return conn


def test_payload_types_are_preserved(db: Database, db_url: str) -> None:
    u = uuid.uuid4()
    with _conn(db_url) as c:
        c.execute(
            "CREATE TABLE typed (id text PRIMARY KEY, v halfvec(3), r real, d double precision, n numeric, i int, "
            "b boolean, t timestamp, tz timestamptz, day date, u uuid, arr int[], tsa timestamptz[], j jsonb, "
            "raw bytea, iv interval)"
        )
        c.execute("CREATE INDEX ON typed USING hnsw (v halfvec_l2_ops)")
        c.execute(
            "INSERT INTO typed VALUES ('k1', '[0.5, -1, 2]', 0.1, 2.5, 2, 7, true, '2026-01-01 09:00:00', "
            "'2026-01-01 09:00:00.5+09', '2026-11-25', %s, '{1,2}', '{2026-01-01 00:00:00+00}', "
            """'{"a": [1, "x"]}', '\\x00ff', '1 day'), ('k2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, """
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            (u,),
        )
    plan = inspect_source(db.engine, "public.typed")
    conn = connect(db, plan)
    try:
        (batch,) = list(batches(conn.cursor(binary=True), plan, limit=10))
    finally:
        conn.close()
    assert batch.keys == ["k1"] and batch.null_keys == ["k2"] and batch.rows == 2 and batch.last_key == "k2"
    assert batch.vectors.dtype == np.float32 and batch.vectors.tolist() == [[0.5, -1.0, 2.0]]
    p = batch.payloads[0]
    assert p["r"] == pytest.approx(0.1) and isinstance(p["r"], float)
    assert p["d"] == 2.5 and p["n"] == 2.0 and isinstance(p["n"], float)  # a float column stays float
    assert p["i"] == 7 and isinstance(p["i"], int) and p["b"] is True
    assert p["t"] == "2026-01-01T09:00:00.000000+00:00" and p["t_ts"] == 1767258000.0  # no zone: taken as UTC
    assert p["tz"] == "2026-01-01T00:00:00.500000+00:00" and p["tz_ts"] == 1767225600.5
    assert p["day"] == "2026-11-25" and p["u"] == str(u) and p["arr"] == [1, 2]
    assert p["tsa"] == ["2026-01-01T00:00:00+00:00"] and p["j"] == {"a": [1, "x"]}
    assert p["raw"] is None and p["iv"] == "1 day"  # bytes are not payload; other types as PostgreSQL prints them


def test_more_than_fifty_payload_columns(db: Database, db_url: str) -> None:
    cols = ", ".join(f"c{i} int DEFAULT {i}" for i in range(60))
    with _conn(db_url) as c:
        c.execute(f"CREATE TABLE wide (id bigint PRIMARY KEY, v vector(2), {cols})")
        c.execute("CREATE INDEX ON wide USING hnsw (v vector_cosine_ops)")
        c.execute("INSERT INTO wide (id, v) SELECT g, '[1, 2]' FROM generate_series(1, 5) g")
    plan = inspect_source(db.engine, "public.wide")
    conn = connect(db, plan)
    try:
        parts = list(batches(conn.cursor(binary=True), plan, limit=2))
    finally:
        conn.close()
    assert [p.keys for p in parts] == [[1, 2], [3, 4], [5]]  # keyset pages, never OFFSET
    assert parts[0].payloads[0] == {f"c{i}": i for i in range(60)}


def test_vector_blob_of_the_wrong_size_is_an_error() -> None:
    blob = b"\x00\x02\x00\x00" + np.array([1, 2], dtype=">f4").tobytes()
    assert decode_vectors(blob, 1, 2).tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="mixed dimensions"):
        decode_vectors(blob, 1, 3)
