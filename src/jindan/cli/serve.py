"""`jindan serve`: run the HTTP service."""

from __future__ import annotations

import gc

import typer

from jindan.cli.context import console, settings_from

app = typer.Typer()


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Bind address (default: JINDAN_SERVER__HOST)."),
    port: int | None = typer.Option(None, help="Bind port (default: JINDAN_SERVER__PORT)."),
) -> None:
    """Start the API (OpenAPI docs at /docs). The embedded profile starts its own PostgreSQL.

    SIGTERM and Ctrl+C stop it cleanly: answers in progress get JINDAN_SERVER__SHUTDOWN_GRACE_S to finish, and
    the embedded PostgreSQL stops with it unless another jindan process still uses it."""
    from jindan.api.app import create_app
    from jindan.api.logs import configure_json_logging
    from jindan.cli.graceful import GracefulServer

    settings = settings_from(ctx)
    h, p = host or settings.server.host, port or settings.server.port
    settings = settings.model_copy(update={"server": settings.server.model_copy(update={"host": h, "port": p})})
    try:
        api = create_app(settings)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"jindan ({settings.profile}) on http://{h}:{p}  docs: http://{h}:{p}/docs")
    server = GracefulServer(
        api, host=h, port=p, log_level=settings.log_level.lower(), grace_s=settings.server.shutdown_grace_s
    )
    configure_json_logging(settings)  # after uvicorn's Config, which installs its own logging setup
    started = server.run_until_stopped()
    # Everything is closed by now. The interpreter's last garbage collection walks the whole heap (about 2 s
    # with the models loaded, counted against the orchestrator's grace period): move it out of the collector.
    gc.freeze()
    if not started:
        raise typer.Exit(3)
