"""pgvector: the legacy vector store, kept usable side by side with Qdrant during the move.

One table per collection (``vec_<name>``: id, embedding, payload jsonb) with an HNSW index using the operator
class of the collection's distance, expression indexes on the filtered payload fields, and pgvector 0.8's
iterative index scans so filtered queries still return k rows. Specs and aliases live in ``vector_collections``
and ``vector_aliases`` (Alembic-managed); an alias switch is one UPDATE in one transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from jindan.vectors.base import (
    CollectionNotFound,
    CollectionSpec,
    Filter,
    Hit,
    Point,
    PointId,
    Vector,
    VectorStoreError,
)

NAME = re.compile(r"^[A-Za-z0-9_\-]{1,50}$")
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
OPS = {"cosine": ("vector_cosine_ops", "<=>"), "dot": ("vector_ip_ops", "<#>"), "euclid": ("vector_l2_ops", "<->")}
SCORE = {"cosine": "1 - ({d})", "dot": "-({d})", "euclid": "{d}"}


def table(collection: str) -> str:
    if not NAME.match(collection):
        raise VectorStoreError(f"invalid collection name {collection!r} (letters, digits, _ and - only)")
    return '"vec_' + collection.lower().replace("-", "_") + '"'


class PgVectorStore:
    name = "pgvector"

    def __init__(self, engine: Engine, *, ef_search: int = 100) -> None:
        self.engine = engine
        self.ef_search = ef_search
        self.location = engine.url.render_as_string(hide_password=True)

    def create(self, spec: CollectionSpec) -> None:
        if spec.quantization:
            raise VectorStoreError("int8 scalar quantization is a Qdrant feature; pgvector stores float32 vectors")
        t, (ops, _) = table(spec.name), OPS[spec.distance]
        with self.engine.begin() as c:
            if c.scalar(text("SELECT 1 FROM vector_collections WHERE name = :n"), {"n": spec.name}):
                raise VectorStoreError(f"collection {spec.name!r} already exists")
            c.execute(
                text(
                    f"CREATE TABLE {t} (id text PRIMARY KEY, embedding vector({int(spec.dim)}) NOT NULL, "
                    "payload jsonb NOT NULL DEFAULT '{}', sparse jsonb)"
                )
            )
            for field, kind in spec.payload_indexes.items():
                self._index(c, t, field, kind)
            c.execute(
                text(
                    f"CREATE INDEX ON {t} USING hnsw (embedding {ops}) "
                    f"WITH (m = {int(spec.hnsw_m)}, ef_construction = {int(spec.hnsw_ef_construct)})"
                )
            )
            c.execute(
                text("INSERT INTO vector_collections (name, spec) VALUES (:n, CAST(:s AS jsonb))"),
                {"n": spec.name, "s": json.dumps(asdict(spec))},
            )

    @staticmethod
    def _index(c: Any, t: str, field: str, kind: str) -> None:
        key = _field(field)
        if kind == "keyword":
            c.execute(text(f"CREATE INDEX ON {t} USING gin ((payload -> {key}) jsonb_path_ops)"))
        else:
            c.execute(text(f"CREATE INDEX ON {t} (((payload ->> {key})::float8))"))

    def exists(self, collection: str) -> bool:
        with self.engine.connect() as c:
            return bool(c.scalar(text("SELECT 1 FROM vector_collections WHERE name = :n"), {"n": collection}))

    def collections(self) -> list[str]:
        with self.engine.connect() as c:
            return [r[0] for r in c.execute(text("SELECT name FROM vector_collections ORDER BY name"))]

    def spec(self, collection: str) -> CollectionSpec:
        name = self.resolve(collection)
        with self.engine.connect() as c:
            row = c.scalar(text("SELECT spec FROM vector_collections WHERE name = :n"), {"n": name})
        if row is None:
            raise CollectionNotFound(f"no collection {collection!r}: run `jindan index questions` first")
        return CollectionSpec(**row)

    def drop(self, collection: str) -> None:
        with self.engine.begin() as c:
            c.execute(text(f"DROP TABLE IF EXISTS {table(collection)}"))
            c.execute(text("DELETE FROM vector_aliases WHERE collection = :n"), {"n": collection})
            c.execute(text("DELETE FROM vector_collections WHERE name = :n"), {"n": collection})

    def upsert(self, collection: str, points: Sequence[Point]) -> None:
        if not points:
            return
        t = table(self.resolve(collection))
        rows = [
            {
                "id": str(p.id),
                "e": _literal(p.vector),
                "p": json.dumps(p.payload, ensure_ascii=False),
                "s": json.dumps(p.sparse) if p.sparse else None,
            }
            for p in points
        ]
        with self.engine.begin() as c:
            c.execute(
                text(
                    f"INSERT INTO {t} (id, embedding, payload, sparse) VALUES "
                    "(:id, CAST(:e AS vector), CAST(:p AS jsonb), CAST(:s AS jsonb)) "
                    "ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding, payload = excluded.payload, "
                    "sparse = excluded.sparse"
                ),
                rows,
            )

    def delete(self, collection: str, ids: Sequence[PointId]) -> None:
        if ids:
            with self.engine.begin() as c:
                c.execute(
                    text(f"DELETE FROM {table(self.resolve(collection))} WHERE id = ANY(:ids)"),
                    {"ids": [str(i) for i in ids]},
                )

    def count(self, collection: str, flt: Filter | None = None) -> int:
        where, params = _where(flt)
        with self.engine.connect() as c:
            return int(c.scalar(text(f"SELECT count(*) FROM {table(self.resolve(collection))} {where}"), params) or 0)

    def retrieve(self, collection: str, ids: Sequence[PointId], with_vectors: bool = False) -> list[Point]:
        with self.engine.connect() as c:
            rows = c.execute(
                text(
                    f"SELECT id, payload, embedding::text FROM {table(self.resolve(collection))} WHERE id = ANY(:ids)"
                ),
                {"ids": [str(i) for i in ids]},
            ).all()
        dim = 0
        return [Point(_key(r[0]), _parse(r[2]) if with_vectors else np.zeros(dim, np.float32), r[1]) for r in rows]

    def ids(self, collection: str, batch: int = 1000) -> Iterator[PointId]:
        with self.engine.connect() as c:
            result = c.execution_options(stream_results=True, max_row_buffer=batch).execute(
                text(f"SELECT id FROM {table(self.resolve(collection))}")
            )
            for (pid,) in result:
                yield _key(pid)

    def search(
        self,
        collection: str,
        vector: Vector,
        k: int = 10,
        flt: Filter | None = None,
        *,
        exact: bool = False,
        ef: int | None = None,
        sparse: tuple[list[int], list[float]] | None = None,
    ) -> list[Hit]:
        spec = self.spec(collection)
        _, op = OPS[spec.distance]
        dist = f"embedding {op} CAST(:q AS vector)"
        where, params = _where(flt)
        sql = (
            f"SELECT id, payload, {SCORE[spec.distance].format(d=dist)} AS score FROM {table(spec.name)} {where} "
            f"ORDER BY {dist} LIMIT :k"
        )
        with self.engine.begin() as c:
            c.execute(text(f"SET LOCAL hnsw.ef_search = {int(max(ef or self.ef_search, k))}"))
            c.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))  # filtered queries still fill k
            if exact:
                c.execute(text("SET LOCAL enable_indexscan = off"))
            rows = c.execute(text(sql), {**params, "q": _literal(vector), "k": k}).all()
        return [Hit(_key(r[0]), float(r[2]), r[1]) for r in rows]

    def switch_alias(self, alias: str, collection: str) -> None:
        with self.engine.begin() as c:
            if not c.scalar(text("SELECT 1 FROM vector_collections WHERE name = :n"), {"n": collection}):
                raise CollectionNotFound(f"cannot point alias {alias!r} at missing collection {collection!r}")
            c.execute(
                text(
                    "INSERT INTO vector_aliases (alias, collection) VALUES (:a, :c) "
                    "ON CONFLICT (alias) DO UPDATE SET collection = excluded.collection, switched_at = now()"
                ),
                {"a": alias, "c": collection},
            )

    def resolve(self, name: str) -> str:
        with self.engine.connect() as c:
            target = c.scalar(text("SELECT collection FROM vector_aliases WHERE alias = :a"), {"a": name})
        return str(target) if target else name

    def close(self) -> None:
        return None


def _literal(v: Vector) -> str:
    return "[" + ",".join(repr(float(x)) for x in np.asarray(v, dtype=np.float32)) + "]"


def _parse(s: str) -> Vector:
    return np.asarray(json.loads(s), dtype=np.float32)


def _key(pid: str) -> PointId:
    return int(pid) if pid.isdigit() else pid


def _field(key: str) -> str:
    """Payload keys are inlined (so expression indexes match); only plain identifiers are accepted."""
    if not FIELD.match(key):
        raise VectorStoreError(f"invalid payload field name {key!r}")
    return f"'{key}'"


def _where(flt: Filter | None) -> tuple[str, dict[str, Any]]:
    if flt is None or flt.empty():
        return "", {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, (k, v) in enumerate(flt.equals.items()):
        parts.append(f"payload -> {_field(k)} = CAST(:ev{i} AS jsonb)")
        params[f"ev{i}"] = json.dumps(v)
    for i, (k, values) in enumerate(flt.any_of.items()):
        f = _field(k)
        parts.append(
            f"(payload -> {f} = ANY(CAST(:as{i} AS jsonb[])) OR payload -> {f} @> ANY(CAST(:aa{i} AS jsonb[])))"
        )
        params |= {f"as{i}": [json.dumps(v) for v in values], f"aa{i}": [json.dumps([v]) for v in values]}
    for i, (k, (lo, hi)) in enumerate(flt.ranges.items()):
        if lo is not None:
            parts.append(f"(payload ->> {_field(k)})::float8 >= :lo{i}")
            params[f"lo{i}"] = lo
        if hi is not None:
            parts.append(f"(payload ->> {_field(k)})::float8 <= :hi{i}")
            params[f"hi{i}"] = hi
    if flt.exclude_ids:
        parts.append("id <> ALL(:xids)")
        params["xids"] = [str(i) for i in flt.exclude_ids]
    return "WHERE " + " AND ".join(parts), params
