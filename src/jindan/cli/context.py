"""What every command needs: the effective settings, a database, one Rich console for humans (stderr)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.console import Console

from jindan.db.engine import Database
from jindan.settings import Settings

if TYPE_CHECKING:
    from jindan.llm.legacy import LegacyGate
    from jindan.llm.router import Router

console = Console(stderr=True)
out = Console()


def settings_from(ctx: typer.Context) -> Settings:
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    raise typer.Exit(2)  # pragma: no cover - root callback always sets it


@contextmanager
def cannot(what: str, *errors: type[Exception]) -> Iterator[None]:
    """Input a command cannot use (a malformed file, an empty side, a provider down) is one red line and exit 1,
    never a traceback: ``what`` it could not do, and why."""
    caught: tuple[type[Exception], ...] = (ValueError, *errors)
    try:
        yield
    except caught as exc:
        console.print(f"[red]cannot {what}: {exc}[/red]")
        raise typer.Exit(1) from exc


def load_settings(profile: str | None) -> Settings:
    try:
        settings = Settings(profile=profile) if profile else Settings()
    except ValidationError as exc:
        console.print(f"[red]Invalid configuration:[/red]\n{exc}")
        raise typer.Exit(2) from exc
    # Our own logs at the configured level; third-party chatter (pgserver, alembic) only when it matters.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("jindan").setLevel(settings.log_level.upper())
    from jindan.security.privacy import enforce_offline

    enforce_offline(settings)
    return settings


@contextmanager
def open_db(settings: Settings, *, schema: bool = True) -> Iterator[Database]:
    """The configured database with its schema current: migrated silently on the embedded profile, refused
    with the command to run elsewhere. ``schema=False`` is for the `jindan db` commands themselves."""
    from jindan.db.migrations import SchemaOutOfDate, ensure_schema

    with _signals_exit():
        try:
            db = Database(settings)
        except Exception as exc:
            console.print(f"[red]Database unavailable:[/red] {exc}")
            raise typer.Exit(1) from exc
        try:
            if schema:
                ensure_schema(db.engine, auto_upgrade=settings.auto_upgrade)
        except SchemaOutOfDate as exc:
            db.close()
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        try:
            yield db
        finally:
            db.close()


@contextmanager
def _signals_exit() -> Iterator[None]:
    """SIGTERM or SIGHUP (a closed terminal) raise SystemExit(128 + signal) while a command has the database
    open, so it is closed on the way out and the embedded PostgreSQL does not outlive the command (a signal's
    default action would end the process on the spot). Signals set to be ignored (nohup) stay ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    for sig, handler in previous.items():
        if handler is signal.SIG_DFL:
            signal.signal(sig, leave)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is signal.SIG_DFL:
                signal.signal(sig, handler)


def legacy_gate(settings: Settings, db: Database | None = None) -> LegacyGate | None:
    """The legacy switch for this command, read once (from ``db``, else the configured database when a legacy
    provider is in use); says so on the console when it could not be read (the legacy providers stay allowed)."""
    from jindan.llm.legacy import read_once

    gate, unread = read_once(settings, db)
    if unread:
        console.print(f"[yellow]{unread}[/yellow]")
    return gate


def cli_router(settings: Settings, db: Database | None = None) -> Router:
    """The router of a CLI command: the configured chains and the legacy switch (``legacy_gate``); a switched-off
    provider is skipped as in the service, and a route with no other provider fails saying why."""
    from jindan.llm.router import build_router

    router = build_router(settings)
    router.gate = legacy_gate(settings, db)
    return router
