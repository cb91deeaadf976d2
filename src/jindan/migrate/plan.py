"""`migrate plan`: what is in the pgvector source, how it maps onto a Qdrant collection, how long it takes.

The distance comes from the operator class of the source's vector index (cosine / L2 / inner product), never
from a guess: an index built for L2 migrated as cosine would return different neighbours. A table without a
vector index, or an explicit ``--distance`` that disagrees with the index, is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text

from jindan.vectors.base import Distance

OPCLASS_DISTANCE: dict[str, Distance] = {
    "vector_cosine_ops": "cosine",
    "vector_l2_ops": "euclid",
    "vector_ip_ops": "dot",
    "halfvec_cosine_ops": "cosine",
    "halfvec_l2_ops": "euclid",
    "halfvec_ip_ops": "dot",
}
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$")


class PlanError(ValueError):
    """The source cannot be migrated as asked; the message says why and what to do."""


@dataclass
class Column:
    name: str
    type: str


@dataclass
class SourcePlan:
    schema: str
    table: str
    key: str
    key_type: str
    vector: str
    dim: int
    distance: Distance
    rows: int
    null_vectors: int
    payload: list[Column] = field(default_factory=list)
    updated_at: str | None = None  # watermark column for `sync`, when the table has one
    target: str = ""
    estimate_s: float = 0.0
    source_url: str | None = field(default=None, repr=False)  # another PostgreSQL (may hold a password)

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.table}"'

    @property
    def integer_key(self) -> bool:
        return self.key_type in ("integer", "bigint", "smallint")


def split_name(name: str) -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    schema = schema or "public"
    for part in (schema, table):
        if not IDENT.match(part):
            raise PlanError(f"invalid table name {name!r}: use schema.table with plain identifiers")
    return schema, table


def inspect_source(
    engine: Engine,
    table_name: str,
    *,
    key: str | None = None,
    vector: str | None = None,
    distance: Distance | None = None,
    target: str = "",
    rate_per_s: float = 20_000.0,
) -> SourcePlan:
    schema, table = split_name(table_name)
    with engine.connect() as c:
        cols = c.execute(
            text(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.atttypmod, t.typname "
                "FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = r.relnamespace "
                "JOIN pg_type t ON t.oid = a.atttypid "
                "WHERE n.nspname = :s AND r.relname = :t AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
            ),
            {"s": schema, "t": table},
        ).all()
        if not cols:
            raise PlanError(f"table {schema}.{table} not found")
        vectors = [(n, typmod) for n, _, typmod, tname in cols if tname in ("vector", "halfvec")]
        if not vectors:
            raise PlanError(f"{schema}.{table} has no vector column")
        if vector is None:
            if len(vectors) > 1:
                raise PlanError(
                    f"{schema}.{table} has several vector columns ({', '.join(v for v, _ in vectors)}): "
                    "choose one with --vector"
                )
            vector = vectors[0][0]
        vec = dict(vectors)
        if vector not in vec:
            raise PlanError(f"{vector!r} is not a vector column of {schema}.{table}")
        dim = int(vec[vector])
        if dim <= 0:
            raise PlanError(f"{vector!r} has no fixed dimension; Qdrant needs one (ALTER it to vector(N))")
        pk = (
            c.execute(
                text(
                    "SELECT a.attname FROM pg_index i "
                    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = CAST(:q AS regclass) AND i.indisprimary"
                ),
                {"q": f'"{schema}"."{table}"'},
            )
            .scalars()
            .all()
        )
        key = key or (pk[0] if len(pk) == 1 else None)
        if key is None:
            raise PlanError(f"{schema}.{table} has no single-column primary key: name the key column with --key")
        types = {n: f for n, f, _, _ in cols}
        if key not in types:
            raise PlanError(f"key column {key!r} not found")
        opclasses = (
            c.execute(
                text(
                    "SELECT opc.opcname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
                    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "JOIN pg_opclass opc ON opc.oid = ANY(i.indclass::oid[]) "
                    "WHERE i.indrelid = CAST(:q AS regclass) AND a.attname = :v AND opc.opcname LIKE '%vec%_ops'"
                ),
                {"q": f'"{schema}"."{table}"', "v": vector},
            )
            .scalars()
            .all()
        )
        found = {OPCLASS_DISTANCE[o] for o in opclasses if o in OPCLASS_DISTANCE}
        if len(found) > 1:
            raise PlanError(
                f"{vector!r} has indexes for several distances ({', '.join(sorted(found))}): pass --distance"
            )
        index_distance = next(iter(found), None)
        if index_distance and distance and distance != index_distance:
            raise PlanError(
                f"--distance {distance} contradicts the source index ({index_distance}); "
                "the migrated collection would rank differently"
            )
        chosen = distance or index_distance
        if chosen is None:
            raise PlanError(
                f"{vector!r} has no vector index to read the distance from: pass --distance "
                "cosine|euclid|dot (what the application queries with)"
            )
        rows, nulls = c.execute(
            text(f'SELECT count(*), count(*) FILTER (WHERE "{vector}" IS NULL) FROM "{schema}"."{table}"')
        ).one()
    payload = [Column(n, f) for n, f, _, tname in cols if n not in (vector, key) and tname not in ("vector", "halfvec")]
    updated = next((n for n in ("updated_at", "modified_at", "updated") if n in types), None)
    return SourcePlan(
        schema,
        table,
        key,
        types[key],
        vector,
        dim,
        chosen,
        int(rows),
        int(nulls),
        payload,
        updated,
        target or f"{table}__migrated",
        round(rows / rate_per_s + 2, 1),
    )


def describe(plan: SourcePlan) -> dict[str, Any]:
    return {
        "source": f"{plan.schema}.{plan.table}",
        "key": f"{plan.key} ({plan.key_type})",
        "vector": f"{plan.vector} vector({plan.dim})",
        "distance": plan.distance,
        "rows": plan.rows,
        "null_vectors": plan.null_vectors,
        "payload": {c.name: c.type for c in plan.payload},
        "sync_watermark": plan.updated_at,
        "target": plan.target,
        "point_ids": "integer keys kept" if plan.integer_key else "uuid5(NAMESPACE_URL, str(key)), key in payload",
        "estimate_s": plan.estimate_s,
    }
