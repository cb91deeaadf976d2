"""Schema migrations (Alembic) driven from code, so `jindan db upgrade` needs no alembic.ini on disk.

An upgrade runs in one transaction that first takes a PostgreSQL advisory lock: replicas started together
upgrade the schema once (the others wait, then find it done). A transaction-level lock holds through
PgBouncer's transaction pooling too, and is released by PostgreSQL if the process holding it dies.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

SCRIPTS = Path(__file__).with_name("alembic")
LOCK = (0x6A646E, 1)  # advisory lock (namespace "jdn", 1): the schema
log = logging.getLogger(__name__)


def _lock(conn: Connection) -> None:
    """Take the schema lock for this transaction, saying who holds it while we wait (no statement timeout:
    another replica's upgrade may take longer than a request may)."""
    conn.execute(text("SET LOCAL statement_timeout = 0"))
    args = {"a": LOCK[0], "b": LOCK[1]}
    if conn.scalar(text("SELECT pg_try_advisory_xact_lock(:a, :b)"), args):
        return
    holder = conn.scalar(
        text(
            "SELECT coalesce(nullif(a.application_name, ''), 'pid ' || a.pid) FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = :a AND l.objid = :b AND l.objsubid = 2"
        ),
        args,
    )
    log.info("waiting for the schema upgrade that %s is running", holder or "another process")
    conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), args)


def _config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Upgrade under the schema lock; False when another process had already done it."""
    with engine.begin() as conn:
        _lock(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        if revision == "head" and before == head():
            log.info("schema already at %s (upgraded by another process)", before)
            return False
        log.info("upgrading the schema from %s to %s", before or "empty", revision)
        cfg = _config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return True


def downgrade(engine: Engine, revision: str = "-1") -> None:
    with engine.begin() as conn:
        _lock(conn)
        cfg = _config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def autogenerate(engine: Engine, message: str) -> None:
    """Developer helper: write a new revision from the ORM models."""
    with engine.begin() as conn:
        cfg = _config(engine)
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)


class SchemaOutOfDate(RuntimeError):
    """The database schema is behind the code; the message says which command fixes it."""


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Embedded profile: migrate silently (zero setup). Elsewhere: refuse with the command to run."""
    applied, newest = current(engine), head()
    if applied == newest:
        return
    if auto_upgrade:
        upgrade(engine)
        return
    raise SchemaOutOfDate(f"database schema is at {applied or 'empty'}, code needs {newest}: run `jindan db upgrade`")
