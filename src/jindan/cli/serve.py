"""`jindan serve`: run the HTTP service."""

from __future__ import annotations

import typer

from jindan.cli.context import console, settings_from

app = typer.Typer()


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Bind address (default: JINDAN_SERVER__HOST)."),
    port: int | None = typer.Option(None, help="Bind port (default: JINDAN_SERVER__PORT)."),
) -> None:
    """Start the API (OpenAPI docs at /docs). The embedded profile starts its own PostgreSQL."""
    import uvicorn

    from jindan.api.app import create_app

    settings = settings_from(ctx)
    try:
        api = create_app(settings)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    h, p = host or settings.server.host, port or settings.server.port
    console.print(f"jindan ({settings.profile}) on http://{h}:{p}  docs: http://{h}:{p}/docs")
    uvicorn.run(api, host=h, port=p, log_level=settings.log_level.lower())
