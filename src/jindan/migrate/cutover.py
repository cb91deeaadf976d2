"""Cutover, rollback and catch-up sync: every step recorded with who and when (``migration_events``).

The application reads through an alias. ``cutover`` points it at the migrated collection, only after a
passing ``verify`` of that collection; ``rollback`` points it back at the collection it read before, or, when
there was none, switches the read path back to pgvector by configuration (``JINDAN_VECTORS__STORE`` in .env).
``sync`` copies rows changed after the bulk copy (``updated_at`` watermark) and deletes the keys a trigger
logged as deleted; ``jindan.vectors.dual.DualWriteStore`` writes to both stores while the window is open.
"""

from __future__ import annotations

import datetime as dt
import getpass
import re
from pathlib import Path
from typing import Any

from psycopg import sql
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import MigrationEvent, MigrationRun
from jindan.migrate.plan import SourcePlan
from jindan.migrate.source import batches, connect
from jindan.vectors.base import PointId, VectorStore, where


class CutoverRefused(RuntimeError):
    pass


def record(db: Database, kind: str, target: str, detail: dict[str, Any], actor: str | None = None) -> None:
    with db.session() as s:
        s.add(MigrationEvent(kind=kind, target=target, actor=actor or getpass.getuser(), detail=detail))


def last_event(db: Database, kind: str | tuple[str, ...], target: str | None = None) -> MigrationEvent | None:
    """The latest event of ``kind`` (or of any of several kinds), optionally for one target."""
    with db.session() as s:
        q = select(MigrationEvent).where(MigrationEvent.kind.in_([kind] if isinstance(kind, str) else kind))
        if target:
            q = q.where(MigrationEvent.target == target)
        return s.scalars(q.order_by(MigrationEvent.id.desc())).first()


def cutover(
    db: Database,
    store: VectorStore,
    alias: str,
    target: str,
    *,
    actor: str | None = None,
    accept_sampled: bool = False,
) -> str | None:
    """Switch ``alias`` to ``target`` atomically; refuses unless the latest verify of ``target`` passed, ran on
    this same store, and compared every row (a sampled verify only with ``accept_sampled``, recorded).

    A cutover that is refused or fails changes nothing (the switch is one atomic step) and is recorded as
    ``cutover_failed``, so that a ``rollback`` run after it keeps the collection that is still serving."""
    serving: str | None = None
    try:
        serving = store.resolve(alias)
        check = _gate(last_event(db, "verify", target), store, target, accept_sampled)
        previous = serving if serving != alias and store.exists(serving) else None
        store.switch_alias(alias, target)
    except Exception as exc:
        record(db, "cutover_failed", target, {"alias": alias, "serving": serving, "error": str(exc)}, actor)
        raise
    verified = {"verify_event": check.id, "full": check.detail.get("full"), "store": check.detail.get("store")}
    record(db, "cutover", target, {"alias": alias, "previous": previous, **verified}, actor)
    return previous


def _gate(check: MigrationEvent | None, store: VectorStore, target: str, accept_sampled: bool) -> MigrationEvent:
    """The latest verify of ``target`` when it opens the cutover; else why not, as a ``CutoverRefused``.
    Verifies recorded before the store and the sample were recorded are judged on ``passed`` alone."""
    if check is None:
        raise CutoverRefused(f"no passing verify for {target!r}: run `jindan migrate verify` first")
    detail = check.detail
    if not detail.get("passed"):
        failed = [c["name"] for c in detail.get("checks", []) if not c.get("passed")]
        raise CutoverRefused(
            f"no passing verify for {target!r}: its latest verify failed ({', '.join(failed) or 'no checks'}); "
            "fix the copy (`jindan migrate run --again` or `sync`) and run `jindan migrate verify` again"
        )
    here = where(store)
    if detail.get("store") and detail["store"] != here:
        raise CutoverRefused(
            f"the latest verify of {target!r} ran on {detail['store']}, not on the store this cutover switches "
            f"({here}): run `jindan migrate verify` with the same --to"
        )
    if detail.get("full") is False and not accept_sampled:
        rows = next((c["detail"].get("compared") for c in detail.get("checks", []) if c["name"] == "vectors"), None)
        raise CutoverRefused(
            f"the latest verify of {target!r} compared a sample of the rows ({rows or 'some'}), not every row: "
            "run `jindan migrate verify --full`, or accept the sample with `jindan migrate cutover --accept-sampled`"
        )
    return check


def rollback(
    db: Database, store: VectorStore, alias: str, *, env_file: Path = Path(".env"), actor: str | None = None
) -> str:
    """Undo the last cutover: the alias goes back, or the read path goes back to pgvector.

    When the last cutover failed, it changed nothing: the collection serving now stays (nothing to undo)."""
    event = last_event(db, ("cutover", "cutover_failed"))
    if event is not None and event.kind == "cutover_failed":
        serving = store.resolve(alias)
        record(db, "rollback", serving, {"alias": alias, "unchanged": True, "failed_cutover": event.target}, actor)
        return f"the last cutover (to {event.target}) failed and changed nothing: " + (
            f"alias {alias!r} still serves {serving}" if serving != alias else "the read path is unchanged"
        )
    previous = event.detail.get("previous") if event else None
    if previous and store.exists(previous):
        store.switch_alias(alias, previous)
        record(db, "rollback", previous, {"alias": alias, "from": event.target if event else None}, actor)
        return f"alias {alias!r} -> {previous}"
    _set_env(env_file, "JINDAN_VECTORS__STORE", "pgvector")
    record(db, "rollback", "pgvector", {"alias": alias, "env_file": str(env_file)}, actor)
    return f"read path -> pgvector (JINDAN_VECTORS__STORE=pgvector in {env_file}); restart the service"


def _set_env(path: Path, key: str, value: str) -> None:
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [ln for ln in lines if not re.match(rf"^\s*{re.escape(key)}\s*=", ln)] + [f"{key}={value}"]
    path.write_text("\n".join(lines) + "\n")


def install_deletion_log(db: Database, plan: SourcePlan) -> None:
    """A trigger that logs deleted keys of the source table (so `sync` can delete them in Qdrant too)."""
    fn = f"jindan_log_delete_{plan.table}"
    conn = connect(db, plan)
    try:
        with conn.transaction():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS jindan_deleted_keys (source text NOT NULL, key text NOT NULL, "
                "deleted_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            conn.execute(f"""
                CREATE OR REPLACE FUNCTION "{fn}"() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  INSERT INTO jindan_deleted_keys (source, key)
                  VALUES ('{plan.schema}.{plan.table}', OLD."{plan.key}"::text);
                RETURN OLD; END $$""")
            conn.execute(f"DROP TRIGGER IF EXISTS jindan_deletes ON {plan.qualified}")
            conn.execute(
                f'CREATE TRIGGER jindan_deletes AFTER DELETE ON {plan.qualified} FOR EACH ROW EXECUTE FUNCTION "{fn}"()'
            )
    finally:
        conn.close()


def sync(
    db: Database, store: VectorStore, plan: SourcePlan, *, actor: str | None = None, overlap_s: float = 60.0
) -> dict[str, Any]:
    """Catch up rows changed or deleted since the last sync (or since the bulk copy started).

    Everything is read in one REPEATABLE READ snapshot whose ``now()`` becomes the next watermark. A writer
    that stamped ``updated_at`` before that moment but committed after it is invisible to this snapshot, so
    the next sync starts ``overlap_s`` earlier: re-copying a row is idempotent, losing one is not. A key is
    deleted only when the log has it and the table no longer does (a deleted then re-inserted key stays)."""
    if plan.updated_at is None:
        raise ValueError(f"{plan.table} has no updated_at column: changed rows cannot be found; re-run the copy")
    since = _watermark(db, plan) - dt.timedelta(seconds=overlap_s)
    conn = connect(db, plan)
    upserted = 0
    removed: list[PointId] = []
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            until = conn.execute("SELECT now()").fetchone()[0]
            changed = (sql.SQL("{} > %s").format(sql.Identifier(plan.updated_at)), [since])
            for part in batches(conn.cursor(binary=True), plan, also=changed):
                store.upsert(plan.target, part.points())
                upserted += len(part.keys)
                removed += part.null_keys  # a vector set to NULL is no longer searchable
            if _has_log(conn):
                removed += [r[0] for r in conn.execute(_gone_query(plan), (f"{plan.schema}.{plan.table}", since))]
    finally:
        conn.close()
    keys: list[PointId] = [int(k) for k in removed] if plan.integer_key else [str(k) for k in removed]
    store.delete(plan.target, keys)
    detail = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "overlap_s": overlap_s,
        "upserted": upserted,
        "deleted": len(keys),
    }
    record(db, "sync", plan.target, detail, actor)
    return detail


def _gone_query(plan: SourcePlan) -> sql.Composed:
    return sql.SQL(
        "SELECT DISTINCT d.key FROM jindan_deleted_keys d WHERE d.source = %s AND d.deleted_at > %s "
        "AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = CAST(d.key AS {type}))"
    ).format(table=sql.Identifier(plan.schema, plan.table), key=sql.Identifier(plan.key), type=sql.SQL(plan.key_type))


def _has_log(conn: Any) -> bool:
    return bool(conn.execute("SELECT to_regclass('jindan_deleted_keys') IS NOT NULL").fetchone()[0])


def _watermark(db: Database, plan: SourcePlan) -> Any:
    last = last_event(db, "sync", plan.target)
    if last is not None:
        return dt.datetime.fromisoformat(last.detail["until"])
    with db.session() as s:
        run = s.scalars(
            select(MigrationRun).where(MigrationRun.target == plan.target).order_by(MigrationRun.id)
        ).first()
    if run is None:
        raise ValueError(f"no migration into {plan.target!r} yet: run `jindan migrate run` first")
    return run.started_at
