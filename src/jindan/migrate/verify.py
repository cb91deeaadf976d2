"""`migrate verify`: prove the copy, not just count it.

Checks, each pass or fail: distance (the collection ranks with the source index's metric), exact counts, the
shard replicas (a Qdrant server or cluster: every replica active), the
key sets (missing and extra keys listed), vectors equal within tolerance and payloads equal (a sample, or every
row with ``full``), and search agreement on sample queries: Qdrant's exact search against PostgreSQL's, and
Qdrant's index (recall@10 against exact search), with the top-10 overlap against pgvector's index reported.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from psycopg import sql

from jindan.db.engine import Database
from jindan.migrate.plan import SourcePlan
from jindan.migrate.run import as_array
from jindan.migrate.source import connect, parse_payloads, payload_sql
from jindan.vectors.base import PointId, VectorStore, where

OPS = {"cosine": "<=>", "euclid": "<->", "dot": "<#>"}


@dataclass
class Check:
    name: str
    passed: bool
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerifyReport:
    source: str
    target: str
    checks: list[Check]
    seconds: float
    store: str = ""  # the store verified (kind and location): a cutover must run on the same one
    full: bool = False  # every row's vector and payload compared, not a sample
    seed: int = 0  # of the sample, so a failing sample can be drawn again

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "passed": self.passed,
            "store": self.store,
            "full": self.full,
            "seed": self.seed,
            "seconds": round(self.seconds, 2),
            "checks": [asdict(c) for c in self.checks],
        }


def _key(value: Any, plan: SourcePlan) -> PointId:
    return int(value) if plan.integer_key else str(value)


def verify(
    db: Database,
    store: VectorStore,
    plan: SourcePlan,
    *,
    sample: int = 200,
    queries: int = 50,
    full: bool = False,
    tolerance: float = 1e-4,
    seed: int | None = None,
) -> VerifyReport:
    """Compare the copy with its source. The sample (and the search probes) are drawn afresh each time unless
    ``seed`` is given, so repeated verifies look at different rows; the seed is in the report."""
    start = time.perf_counter()
    seed = secrets.randbelow(2**31) if seed is None else seed
    checks: list[Check] = []
    spec = store.spec(plan.target)
    checks.append(
        Check(
            "distance",
            spec.distance == plan.distance and spec.dim == plan.dim,
            {"source": f"{plan.dim}-d {plan.distance}", "target": f"{spec.dim}-d {spec.distance}"},
        )
    )
    conn = connect(db, plan)
    try:
        keys = {
            _key(r[0], plan)
            for r in conn.execute(f'SELECT "{plan.key}" FROM {plan.qualified} WHERE "{plan.vector}" IS NOT NULL')
        }
        target_ids = set(store.ids(plan.target))
        missing, extra = sorted(keys - target_ids, key=str), sorted(target_ids - keys, key=str)
        checks.append(
            Check(
                "count",
                len(keys) == store.count(plan.target),
                {"source": len(keys), "target": store.count(plan.target)},
            )
        )
        checks.append(
            Check(
                "ids",
                not missing and not extra,
                {
                    "missing": missing[:50],
                    "extra": extra[:50],
                    "missing_count": len(missing),
                    "extra_count": len(extra),
                },
            )
        )
        rng = random.Random(seed)
        pool = sorted(keys & target_ids, key=str)
        chosen = pool if full else rng.sample(pool, min(sample, len(pool)))
        checks += _rows(conn, store, plan, chosen, tolerance)
        probes = rng.sample(pool, min(queries, len(pool)))
        if spec.dim == plan.dim:
            checks.append(_search(conn, store, plan, probes))
        else:  # the source's vectors cannot even be asked of this collection
            checks.append(Check("search", False, {"queries": 0, "error": "the dimensions differ (see distance)"}))
    finally:
        conn.close()
    replicas: list[dict[str, Any]] = getattr(store, "shards", lambda name: [])(plan.target)
    if replicas:  # a Qdrant server or cluster: every shard replica must be active
        down = [r for r in replicas if r["state"] != "Active"]
        checks.append(Check("shards", not down, {"replicas": replicas, "not_active": len(down)}))
    return VerifyReport(
        f"{plan.schema}.{plan.table}", plan.target, checks, time.perf_counter() - start, where(store), full, seed
    )


def _norm(v: Any) -> Any:
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    return v / n if n else v


def _rows(conn: Any, store: VectorStore, plan: SourcePlan, chosen: list[PointId], tol: float) -> list[Check]:
    bad_vec: list[str] = []
    bad_payload: list[str] = []
    # the vector through the driver's own decoding (a cross-check of the copy's), the payload by its definition
    query = sql.SQL("SELECT {key}, {vec}, ({payload})::text FROM {table} WHERE {key} = ANY(%s)").format(
        key=sql.Identifier(plan.key),
        vec=sql.Identifier(plan.vector),
        payload=payload_sql(plan),
        table=sql.Identifier(plan.schema, plan.table),
    )
    for i in range(0, len(chosen), 500):
        part = chosen[i : i + 500]
        rows = conn.execute(query, ([str(k) for k in part] if not plan.integer_key else part,)).fetchall()
        got = {p.id: p for p in store.retrieve(plan.target, part, with_vectors=True)}
        for row in rows:
            key = _key(row[0], plan)
            p = got.get(key)
            src = as_array(row[1]).astype(np.float64)
            same = (
                p is not None
                and p.vector.size == src.size
                and (
                    np.allclose(_norm(p.vector), _norm(src), atol=tol)
                    if plan.distance == "cosine"
                    else np.allclose(p.vector, src, atol=tol)
                )
            )
            if not same:
                bad_vec.append(str(key))
            (expected,) = parse_payloads(plan, f"[{row[2]}]")
            if p is None or any(p.payload.get(k) != _approx(v, p.payload.get(k)) for k, v in expected.items()):
                bad_payload.append(str(key))
    return [
        Check("vectors", not bad_vec, {"compared": len(chosen), "mismatched": bad_vec[:50]}),
        Check("payloads", not bad_payload, {"compared": len(chosen), "mismatched": bad_payload[:50]}),
    ]


def _approx(expected: Any, got: Any) -> Any:
    """Floats may lose their last bits on the way (a float64 JSON round trip is exact); forgive only that, so
    an epoch-seconds twin a minute off still fails. Everything else is compared exactly."""
    if (
        isinstance(expected, float)
        and isinstance(got, int | float)
        and abs(expected - got) <= 1e-12 * max(1.0, abs(expected))
    ):
        return got
    return expected


def _search(conn: Any, store: VectorStore, plan: SourcePlan, probes: list[PointId], ef: int = 128) -> Check:
    """Exact search on both sides must agree (the copy and the metric are right), and Qdrant's index must find
    what exact search finds (recall@10 at ``ef``). The overlap with pgvector's own approximate index is what
    the application will notice, reported but not judged: a miss there may be pgvector's."""
    op = OPS[plan.distance]
    overlaps, recalls, exact_recalls = [], [], []
    sql = (
        f'SELECT "{plan.key}" FROM {plan.qualified} WHERE "{plan.vector}" IS NOT NULL '
        f'ORDER BY "{plan.vector}" {op} %s LIMIT 10'
    )
    for key in probes:
        row = conn.execute(f'SELECT "{plan.vector}" FROM {plan.qualified} WHERE "{plan.key}" = %s', (key,)).fetchone()
        vec = as_array(row[0])
        pg = [_key(r[0], plan) for r in conn.execute(sql, (vec,))]  # what the application sees today
        conn.execute("SET enable_indexscan = off")  # exact search in PostgreSQL: the ground truth
        try:  # never prepared: a plan cached with the index would silently ignore the setting
            exact = [_key(r[0], plan) for r in conn.execute(sql, (vec,), prepare=False)]
        finally:
            conn.execute("RESET enable_indexscan")
        got = {h.id for h in store.search(plan.target, vec, k=10, ef=ef)}
        brute = {h.id for h in store.search(plan.target, vec, k=10, exact=True)}
        overlaps.append(len(got & set(pg)) / max(len(pg), 1))
        recalls.append(len(got & set(exact)) / max(len(exact), 1))
        exact_recalls.append(len(brute & set(exact)) / max(len(exact), 1))
    overlap, recall, exact_recall = (float(np.mean(x)) if x else 1.0 for x in (overlaps, recalls, exact_recalls))
    return Check(
        "search",
        exact_recall >= 0.98 and recall >= 0.9,
        {
            "queries": len(probes),
            "exact_recall_at_10": round(exact_recall, 4),  # Qdrant exact vs PostgreSQL exact: >= 0.98
            "recall_at_10": round(recall, 4),  # Qdrant's index (ef) vs PostgreSQL exact: >= 0.9
            "ef": ef,
            "top10_overlap_pgvector": round(overlap, 4),  # vs pgvector's approximate index: reported
        },
    )
