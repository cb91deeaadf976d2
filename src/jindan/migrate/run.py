"""`migrate run`: copy a pgvector table into a Qdrant collection, in parallel, resumable, exactly once in effect.

Key ranges are read in parallel with keyset pagination (``WHERE key > last ORDER BY key LIMIT n``; never
OFFSET), each page arriving as one row of columns that PostgreSQL shaped (``source.py``). One writer upserts
batches with deterministic point ids (integer keys kept, others ``uuid5(NAMESPACE_URL, str(key))`` with the
key in the payload), then appends a checkpoint. After a crash the next run continues each range after its
last checkpoint; a batch written but not checkpointed is written again with the same ids: no duplicates.
"""

from __future__ import annotations

import getpass
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, text, update

from jindan.db.engine import Database
from jindan.db.models import MigrationCheckpoint, MigrationRun
from jindan.migrate.cutover import install_deletion_log
from jindan.migrate.plan import SourcePlan, describe
from jindan.migrate.source import batches, connect
from jindan.vectors.base import CollectionSpec, PayloadType, VectorStore

Progress = Callable[[int, int], None]
_DONE = object()


@dataclass
class RunReport:
    run_id: int
    target: str
    copied: int = 0
    null_vectors: list[str] = field(default_factory=list)  # keys skipped because the vector is NULL
    seconds: float = 0.0  # the copy
    resumed: bool = False
    index_s: float = 0.0  # building the search index afterwards (embedded Qdrant; a server does it itself)
    already_done: bool = False  # a finished run into this target exists; nothing was copied
    expected: int | None = None  # vectors in the source when planned (rows less NULL vectors)
    counted: int | None = None  # exact count in the target once every write was acknowledged
    shards: list[dict[str, Any]] = field(default_factory=list)  # Qdrant: each shard replica, state, points

    @property
    def counts_match(self) -> bool | None:
        return None if self.counted is None or self.expected is None else self.counted == self.expected

    @property
    def points_per_s(self) -> float:
        return self.copied / self.seconds if self.seconds else 0.0


def as_array(value: Any) -> Any:
    """pgvector values as float32 numpy (the driver returns numpy or pgvector.Vector objects)."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)


def index_types(plan: SourcePlan) -> dict[str, PayloadType]:
    kinds: dict[str, PayloadType] = {}
    for col in plan.payload:
        t = col.type
        if t in ("integer", "bigint", "smallint"):
            kinds[col.name] = "integer"
        elif t in ("real", "double precision") or t.startswith("numeric"):
            kinds[col.name] = "float"
        elif t.startswith(("text", "character varying", "character(", "uuid")):
            kinds[col.name] = "keyword"
        elif t.startswith("timestamp"):
            kinds[f"{col.name}_ts"] = "float"
    return kinds


def key_ranges(conn: Any, plan: SourcePlan, parts: int) -> list[tuple[Any, Any]]:
    """(lo, hi] ranges covering every key: equal width for integer keys, equal counts (ntile) otherwise."""
    q = f'SELECT min("{plan.key}"), max("{plan.key}") FROM {plan.qualified}'
    lo, hi = conn.execute(q).fetchone()
    if lo is None:
        return []
    if plan.integer_key:
        step = max(1, (hi - lo + 1) // parts)
        bounds = [lo - 1 + step * i for i in range(parts)] + [hi]
        return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1) if bounds[i] < bounds[i + 1]]
    cuts = [
        r[0]
        for r in conn.execute(
            f'SELECT max(k) FROM (SELECT "{plan.key}" AS k, ntile({parts}) OVER (ORDER BY "{plan.key}") AS t '
            f"FROM {plan.qualified}) s GROUP BY t ORDER BY 1"
        ).fetchall()
    ]
    return [(None if i == 0 else cuts[i - 1], c) for i, c in enumerate(cuts)]


def ensure_target(store: VectorStore, plan: SourcePlan, model_id: str) -> None:
    if store.exists(plan.target):
        spec = store.spec(plan.target)
        if spec.dim != plan.dim or spec.distance != plan.distance:
            raise ValueError(
                f"target {plan.target!r} exists with {spec.dim}-d {spec.distance}; the source is "
                f"{plan.dim}-d {plan.distance}. Choose another --target."
            )
        return
    store.create(
        CollectionSpec(
            name=plan.target, dim=plan.dim, distance=plan.distance, model_id=model_id, payload_indexes=index_types(plan)
        )
    )


def migrate(
    db: Database,
    store: VectorStore,
    plan: SourcePlan,
    *,
    readers: int = 4,
    batch: int = 2000,
    model_id: str = "",
    actor: str | None = None,
    progress: Progress | None = None,
    phase: Callable[[str], None] | None = None,
    build_index: bool = True,
    again: bool = False,
) -> RunReport:
    """Copy (or resume copying) ``plan``'s table into ``plan.target``. Returns counts and speed.

    A delete trigger on the source logs deleted keys from the start, so `sync` can catch up afterwards."""
    finished = _finished_run(db, plan)
    if finished is not None and not again and store.exists(plan.target):
        return RunReport(finished, plan.target, already_done=True)
    ensure_target(store, plan, model_id)
    install_deletion_log(db, plan)
    journal = _Journal(db)
    try:
        return _copy(
            db,
            store,
            plan,
            journal,
            readers=readers,
            batch=batch,
            actor=actor,
            progress=progress,
            phase=phase,
            build_index=build_index,
        )
    finally:
        journal.close()


def _copy(
    db: Database,
    store: VectorStore,
    plan: SourcePlan,
    journal: _Journal,
    *,
    readers: int,
    batch: int,
    actor: str | None,
    progress: Progress | None,
    phase: Callable[[str], None] | None,
    build_index: bool,
) -> RunReport:
    run_id, ranges, resumed = _open_run(db, plan, readers, actor, journal)
    report = RunReport(run_id, plan.target, resumed=resumed)
    total = plan.rows
    done_rows = sum(r["rows"] for r in ranges)
    if progress:
        progress(done_rows, total)
    todo = [r for r in ranges if not r["done"]]
    out: queue.Queue[Any] = queue.Queue(maxsize=readers * 2)
    errors: list[BaseException] = []

    def read(rng: dict[str, Any]) -> None:
        try:
            conn = connect(db, plan)
            try:
                cur = conn.cursor(binary=True)
                after = rng["last_key"] if rng["last_key"] is not None else rng["lo"]
                for part in batches(cur, plan, after=after, upto=rng["hi"], limit=batch):
                    out.put((rng["no"], part))
            finally:
                conn.close()
            out.put((rng["no"], None))
        except BaseException as exc:  # surfaced by the writer
            errors.append(exc)
            out.put((rng["no"], None))

    start = time.perf_counter()
    threads = [threading.Thread(target=_drain, args=(todo[i::readers], read), daemon=True) for i in range(readers)]
    for t in threads:
        t.start()
    remaining = {r["no"] for r in todo}
    by_no = {r["no"]: r for r in ranges}
    while remaining and not errors:
        no, part = out.get()
        rng = by_no[no]
        if part is None:  # the range is finished (or its reader failed: then errors says so)
            rng["done"] = not errors
            remaining.discard(no)
        else:
            store.upsert(plan.target, part.points())
            report.null_vectors += [str(k) for k in part.null_keys]
            report.copied += len(part.keys)
            rng["rows"] += part.rows
            rng["last_key"] = part.last_key
            if progress:
                progress(part.rows, total)
        journal.write(run_id, rng)
    if errors:
        _finish(db, run_id, "failed", {"error": str(errors[0])})
        raise errors[0]
    flush = getattr(store, "flush", None)
    if callable(flush):
        flush()
    report.seconds = time.perf_counter() - start
    _count(store, plan, report)
    optimize = getattr(store, "optimize", None)
    if build_index and callable(optimize):  # so that verify probes, and the app queries, the real HNSW index
        if phase:
            phase(f"building the HNSW index of {plan.target}")
        start = time.perf_counter()
        optimize(plan.target)
        report.index_s = time.perf_counter() - start
    _finish(
        db,
        run_id,
        "done",
        {k: v for k, v in asdict(report).items() if k != "null_vectors"}
        | {"null_vectors": len(report.null_vectors), "null_vector_keys": report.null_vectors[:100]},
    )
    return report


def _count(store: VectorStore, plan: SourcePlan, report: RunReport) -> None:
    """Count the target exactly (every write was acknowledged by the configured number of replicas) and list
    its shard replicas; `migrate verify` then compares keys, vectors and payloads."""
    report.expected = plan.rows - plan.null_vectors
    report.counted = store.count(plan.target)
    shards = getattr(store, "shards", None)
    report.shards = shards(plan.target) if callable(shards) else []


def _drain(ranges: list[dict[str, Any]], read: Callable[[dict[str, Any]], None]) -> None:
    for rng in ranges:
        read(rng)


def _finished_run(db: Database, plan: SourcePlan) -> int | None:
    """The id of the latest run into this target when it finished (copying again would only repeat it)."""
    with db.session() as s:
        run = s.scalars(
            select(MigrationRun)
            .where(MigrationRun.source == f"{plan.schema}.{plan.table}", MigrationRun.target == plan.target)
            .order_by(MigrationRun.id.desc())
        ).first()
        return run.id if run is not None and run.status == "done" else None


def _open_run(
    db: Database, plan: SourcePlan, readers: int, actor: str | None, journal: _Journal
) -> tuple[int, list[dict[str, Any]], bool]:
    """Resume the unfinished run for this source and target, or start a new one with fresh key ranges."""
    source = f"{plan.schema}.{plan.table}"
    with db.session() as s:
        run = s.scalars(
            select(MigrationRun)
            .where(MigrationRun.source == source, MigrationRun.target == plan.target, MigrationRun.status != "done")
            .order_by(MigrationRun.id.desc())
        ).first()
        if run is not None:
            latest = (
                select(func.max(MigrationCheckpoint.id))
                .where(MigrationCheckpoint.run_id == run.id)
                .group_by(MigrationCheckpoint.range_no)
            )
            cps = s.scalars(select(MigrationCheckpoint).where(MigrationCheckpoint.id.in_(latest))).all()
            s.execute(update(MigrationRun).where(MigrationRun.id == run.id).values(status="running"))
            return run.id, [_range(cp, plan) for cp in sorted(cps, key=lambda c: c.range_no)], True
        run = MigrationRun(
            source=source, target=plan.target, plan=describe(plan), status="running", actor=actor or getpass.getuser()
        )
        s.add(run)
        s.flush()
        run_id = run.id
    conn = connect(db, plan)
    try:
        bounds = key_ranges(conn, plan, readers * 2)
    finally:
        conn.close()
    ranges = [
        {"no": i, "lo": lo, "hi": hi, "last_key": None, "rows": 0, "done": False} for i, (lo, hi) in enumerate(bounds)
    ]
    for rng in ranges:
        journal.write(run_id, rng)
    return run_id, ranges, False


def _range(cp: MigrationCheckpoint, plan: SourcePlan) -> dict[str, Any]:
    conv: Callable[[str | None], Any] = (lambda v: None if v is None else int(v)) if plan.integer_key else (lambda v: v)
    return {
        "no": cp.range_no,
        "lo": conv(cp.lo),
        "hi": conv(cp.hi),
        "last_key": conv(cp.last_key),
        "rows": cp.rows,
        "done": cp.done,
    }


class _Journal:
    """Checkpoints on one connection with asynchronous commit: a checkpoint lost to a server crash only
    means a batch is copied again (same ids), while a synchronous commit per batch cost 5 ms of the writer."""

    def __init__(self, db: Database) -> None:
        self.conn = db.engine.connect()
        self.conn.execute(text("SET synchronous_commit TO off"))
        self.conn.commit()

    def write(self, run_id: int, rng: dict[str, Any]) -> None:
        def s(v: Any) -> str | None:
            return None if v is None else str(v)

        self.conn.execute(
            insert(MigrationCheckpoint).values(
                run_id=run_id,
                range_no=rng["no"],
                lo=s(rng["lo"]),
                hi=s(rng["hi"]),
                last_key=s(rng["last_key"]),
                rows=rng["rows"],
                done=rng["done"],
            )
        )
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def _finish(db: Database, run_id: int, status: str, report: dict[str, Any]) -> None:
    with db.session() as s:
        s.execute(
            update(MigrationRun)
            .where(MigrationRun.id == run_id)
            .values(status=status, report=report, finished_at=func.now())
        )
