"""Schema migrations (Alembic) driven from code, so `jindan db upgrade` needs no alembic.ini on disk."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SCRIPTS = Path(__file__).with_name("alembic")


def _config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as conn:
        cfg = _config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "-1") -> None:
    with engine.begin() as conn:
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
