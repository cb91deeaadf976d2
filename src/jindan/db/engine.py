"""Engine and session factory for the configured PostgreSQL; the one place that resolves the URL."""

from __future__ import annotations

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
        options = {"options": f"-c statement_timeout={int(statement_timeout_s * 1000)}"} if statement_timeout_s else {}
        self.engine: Engine = create_engine(
            url,
            pool_size=settings.database.pool_size,
            pool_pre_ping=True,
            echo=settings.database.echo,
            hide_parameters=True,  # error messages never carry the values (student text) of a statement
            connect_args=options,
        )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

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
        """A connection for one read statement: autocommit, so no BEGIN/COMMIT round trips (hot read paths)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        """Close the connections; the embedded server stops when no other process uses it. Idempotent."""
        self.engine.dispose()
        server, self._server = self._server, None
        if server is not None:
            server.release()
