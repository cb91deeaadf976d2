"""Engine and session factory for the configured PostgreSQL; the one place that resolves the URL."""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from jindan.settings import Settings


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for logs and `config show`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def process_name() -> str:
    """This process as other replicas see it (job holders, PostgreSQL's application_name): host:pid."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def connect_args(settings: Settings, statement_timeout_s: float | None) -> dict[str, Any]:
    """psycopg options: our name in pg_stat_activity; behind PgBouncer's transaction pooling no prepared
    statements and no startup options (a server connection is shared by other clients between transactions)."""
    args: dict[str, Any] = {"application_name": f"jindan@{process_name()}"[:63]}
    if settings.database.pgbouncer:
        args["prepare_threshold"] = None
    elif statement_timeout_s:
        args["options"] = f"-c statement_timeout={int(statement_timeout_s * 1000)}"
    return args


class Database:
    """Owns the engine, the session factory and (embedded profile) the PostgreSQL server handle."""

    def __init__(self, settings: Settings, *, statement_timeout_s: float | None = None) -> None:
        self._server: Any = None
        if settings.uses_embedded_db:
            from jindan.db.embedded import start_embedded

            url, self._server = start_embedded(settings.pgdata, settings.database.database)
        else:
            assert settings.database.url is not None
            url = settings.database.url
        self.url = url
        self.engine: Engine = self._engine(settings, url, statement_timeout_s)
        read_url = settings.database.read_url
        self.read_engine: Engine = self._engine(settings, read_url, statement_timeout_s) if read_url else self.engine
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._replica: Database | None = None

    @staticmethod
    def _engine(settings: Settings, url: str, statement_timeout_s: float | None) -> Engine:
        return create_engine(
            url,
            pool_size=settings.database.pool_size,
            pool_pre_ping=True,
            echo=settings.database.echo,
            hide_parameters=True,  # error messages never carry the values (student text) of a statement
            connect_args=connect_args(settings, statement_timeout_s),
        )

    @property
    def replica(self) -> Database:
        """This database for reads that may lag the primary by the replication delay (reports, search
        results): sessions on ``database.read_url`` when one is set, read-only; else the database itself."""
        if self.read_engine is self.engine:
            return self
        if self._replica is None:
            view = copy.copy(self)
            view._server = None  # closing the view never stops the embedded server
            view.engine = self.read_engine
            view.sessions = sessionmaker(
                self.read_engine.execution_options(postgresql_readonly=True), expire_on_commit=False
            )
            self._replica = view
        return self._replica

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A connection for one read statement: autocommit, so no BEGIN/COMMIT round trips (hot read paths);
        on the read replica when one is configured."""
        with self.read_engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        """Close the connections; the embedded server stops when no other process uses it. Idempotent."""
        self.engine.dispose()
        self.read_engine.dispose()
        server, self._server = self._server, None
        if server is not None:
            server.release()
