"""Reading a pgvector table in batches that PostgreSQL has already shaped for Qdrant.

Per-row work in Python runs under the GIL, so one batch is one row of columns built by the server (which
runs in its own process, on another core): the keys as an array, the vectors as one ``vector_send`` blob
(decoded by numpy in one call), and the payloads as one JSON array (parsed in one C call). This is also the
single definition of a row's payload, shared by ``run``, ``sync`` and ``verify``:

- numbers stay numbers (``numeric`` and ``real`` as double precision), booleans, text, uuid as text;
- timestamps as RFC 3339 in UTC with microseconds, plus ``<column>_ts`` (seconds since the epoch) for range
  filters; a timestamp without time zone is taken as UTC;
- arrays as arrays, ``json``/``jsonb`` as objects; ``bytea`` is not payload (null).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from psycopg import sql

from jindan.db.engine import Database
from jindan.migrate.plan import Column, SourcePlan
from jindan.vectors.base import Point

RFC3339_UTC = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
MAX_PAIRS = 50  # json_build_object takes at most 100 arguments


def connect(db: Database, plan: SourcePlan | None = None) -> Any:
    """A psycopg connection to the source: the plan's own PostgreSQL when it has one, else jindan's."""
    import psycopg
    from pgvector.psycopg import register_vector
    from sqlalchemy.engine import make_url

    url = make_url(plan.source_url) if plan is not None and plan.source_url else db.engine.url
    conn = psycopg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False),
        autocommit=True,
        options="-c TimeZone=UTC",  # timestamps inside arrays and jsonb render in UTC like the rest
    )
    register_vector(conn)
    return conn


@dataclass
class Batch:
    keys: list[Any]  # keys of rows with a vector, in key order
    vectors: npt.NDArray[np.float32]  # (len(keys), dim)
    payloads: list[dict[str, Any]]
    null_keys: list[Any]  # keys of rows whose vector is NULL (reported, not copied)
    last_key: Any  # the highest key read, NULL-vector rows included
    rows: int

    def points(self) -> list[Point]:
        return [Point(k, v, p) for k, v, p in zip(self.keys, self.vectors, self.payloads, strict=True)]


def _is_timestamp(col: Column) -> bool:
    return col.type.startswith("timestamp") and not col.type.endswith("[]")


def _is_float(col: Column) -> bool:
    t = col.type
    return not t.endswith("[]") and (t in ("real", "double precision") or t.startswith("numeric"))


def _pairs(col: Column) -> list[tuple[str, sql.Composable]]:
    ident, t = sql.Identifier(col.name), col.type
    if _is_timestamp(col):
        utc = sql.SQL("({} AT TIME ZONE 'UTC')").format(ident) if "with time zone" in t else ident
        return [
            (col.name, sql.SQL("to_char({}, {})").format(utc, sql.Literal(RFC3339_UTC))),
            (f"{col.name}_ts", sql.SQL("extract(epoch FROM {})::float8").format(ident)),
        ]
    if _is_float(col):
        return [(col.name, sql.SQL("{}::float8").format(ident))]
    if t == "bytea":
        return [(col.name, sql.NULL)]
    return [(col.name, ident)]


def payload_sql(plan: SourcePlan) -> sql.Composable:
    """One JSON object per row; several objects merged as jsonb when a table has more than 50 fields."""
    pairs = [p for col in plan.payload for p in _pairs(col)]
    if not pairs:
        return sql.SQL("'{}'::json")
    chunks = [pairs[i : i + MAX_PAIRS] for i in range(0, len(pairs), MAX_PAIRS)]
    fn = sql.SQL("json_build_object") if len(chunks) == 1 else sql.SQL("jsonb_build_object")
    objects = [
        sql.SQL("{}({})").format(fn, sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(k), v) for k, v in c))
        for c in chunks
    ]
    return sql.SQL(" || ").join(objects)


def batch_query(plan: SourcePlan, where: sql.Composable, limit: int) -> sql.Composed:
    """The keyset page ``where`` (up to ``limit`` rows in key order) folded into one row of columns."""
    key, vec = sql.Identifier(plan.key), sql.Identifier(plan.vector)
    return sql.SQL(
        "WITH b AS (SELECT * FROM {table} WHERE {where} ORDER BY {key} LIMIT {limit}) "
        "SELECT array_agg({key} ORDER BY {key}) FILTER (WHERE {vec} IS NOT NULL), "
        "string_agg(vector_send({vec}::vector), ''::bytea ORDER BY {key}), "
        "(json_agg({payload} ORDER BY {key}) FILTER (WHERE {vec} IS NOT NULL))::text, "
        "array_agg({key} ORDER BY {key}) FILTER (WHERE {vec} IS NULL), "
        "(array_agg({key} ORDER BY {key} DESC))[1], count(*) FROM b"
    ).format(
        table=sql.Identifier(plan.schema, plan.table),
        where=where,
        key=key,
        vec=vec,
        limit=sql.Literal(limit),
        payload=payload_sql(plan),
    )


def key_range(
    plan: SourcePlan, after: Any, upto: Any, also: tuple[sql.Composable, list[Any]] | None = None
) -> tuple[sql.Composable, list[Any]]:
    """``after < key <= upto`` (either bound may be open), and ``also`` when given."""
    key = sql.Identifier(plan.key)
    conds: list[sql.Composable] = [also[0]] if also else []
    params: list[Any] = list(also[1]) if also else []
    if after is not None:
        conds.append(sql.SQL("{} > %s").format(key))
        params.append(after)
    if upto is not None:
        conds.append(sql.SQL("{} <= %s").format(key))
        params.append(upto)
    return (sql.SQL(" AND ").join(conds) if conds else sql.SQL("true")), params


def decode_vectors(blob: bytes | None, n: int, dim: int) -> npt.NDArray[np.float32]:
    """``vector_send`` output (int16 dim, int16 unused, dim big-endian float4) for n rows, in one numpy call."""
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    raw = np.frombuffer(blob or b"", dtype=np.uint8)
    if raw.size != n * (4 + 4 * dim):
        raise ValueError(f"expected {n} vectors of {dim} dimensions, got {raw.size} bytes: mixed dimensions?")
    return raw.reshape(n, 4 + 4 * dim)[:, 4:].copy().view(">f4").astype(np.float32)


def fetch(cur: Any, plan: SourcePlan, where: sql.Composable, params: list[Any], limit: int) -> Batch | None:
    keys, blob, payloads, null_keys, last, rows = cur.execute(batch_query(plan, where, limit), params).fetchone()
    if not rows:
        return None
    keys = keys or []
    parsed = parse_payloads(plan, payloads)
    return Batch(keys, decode_vectors(blob, len(keys), plan.dim), parsed, null_keys or [], last, rows)


def parse_payloads(plan: SourcePlan, text: str | None) -> list[dict[str, Any]]:
    """A JSON array of payloads from ``payload_sql``; float columns keep float values (JSON turns 2.0 into 2)."""
    parsed: list[dict[str, Any]] = json.loads(text) if text else []
    floats = [c.name for c in plan.payload if _is_float(c)]
    if floats:
        for p in parsed:
            for name in floats:
                if type(p.get(name)) is int:
                    p[name] = float(p[name])
    return parsed


def batches(
    cur: Any,
    plan: SourcePlan,
    *,
    after: Any = None,
    upto: Any = None,
    limit: int = 2000,
    also: tuple[sql.Composable, list[Any]] | None = None,
) -> Iterator[Batch]:
    """Keyset pages over ``after < key <= upto`` (and ``also``); never OFFSET."""
    while True:
        where, params = key_range(plan, after, upto, also)
        batch = fetch(cur, plan, where, params, limit)
        if batch is None:
            return
        yield batch
        after = batch.last_key
        if batch.rows < limit:
            return
