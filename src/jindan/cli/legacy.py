"""`jindan legacy status|off|on`: who still reaches OpenAI's and Google's APIs, and the switch that refuses
them on every replica (stored in PostgreSQL; replicas follow within seconds)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from jindan.cli.context import console, open_db, out, settings_from

app = typer.Typer(help="The legacy providers (OpenAI's and Google's APIs): traffic and the switch-off.",
                  no_args_is_help=True)  # fmt: skip


def _print(report: dict[str, Any]) -> None:
    console.print(f"legacy providers ({', '.join(report['legacy_providers']) or 'none configured'}): {report['line']}")
    if report["routes_only_legacy"]:
        console.print(f"[yellow]routes with no other provider: {', '.join(report['routes_only_legacy'])}[/yellow]")
    last = report["last_legacy_day"]
    console.print(f"last legacy traffic: {last} ({report['quiet_days']} days ago)" if last else "no legacy traffic")
    if not report["traffic"]:
        return
    table = Table(title=f"legacy traffic, last {report['days']} days")
    for column in ("day", "client model", "route", "provider", "model", "via", "requests"):
        table.add_column(column, justify="right" if column == "requests" else "left")
    for u in report["traffic"]:
        table.add_row(u["day"], u["client_model"] or "-", u["route"], u["provider"], u["model"], u["via"],
                      str(u["requests"]))  # fmt: skip
    console.print(table)


@app.command()
def status(
    ctx: typer.Context,
    days: int = typer.Option(30, min=1, help="Days of traffic shown."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """The switch, and per day which routes and models still reach the legacy providers (answers, with the model
    name each gateway client sent, "-" for jindan's own routes, and shadow runs), from the stored counts."""
    from jindan.llm.legacy_usage import status as build

    with open_db(settings_from(ctx)) as db:
        report = build(db, settings_from(ctx), days)
    _print(report)
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))


@app.command()
def off(
    ctx: typer.Context,
    quiet_days: int = typer.Option(
        7, "--quiet-days", min=1, help="Days (today included) that must have had no legacy traffic."
    ),
    force: bool = typer.Option(False, "--force", help="Switch off even with legacy traffic in the window."),
) -> None:
    """Refuse the legacy providers on every replica, once the last --quiet-days had no legacy traffic. Routes
    fall back to their other providers; a route with none answers 503 saying why. `jindan legacy on` undoes it."""
    from jindan.llm.legacy_usage import StillUsed, switch_off

    settings = settings_from(ctx)
    with open_db(settings) as db:
        try:
            state = switch_off(db, settings, quiet_days, force)
        except StillUsed as exc:
            console.print(f"[red]not switched off:[/red] {exc}")
            raise typer.Exit(1) from exc
        from jindan.llm.legacy_usage import status as build

        report = build(db, settings, quiet_days)
    console.print(f"[green]legacy providers {state.line()}[/green]")
    if report["routes_only_legacy"]:
        console.print(f"[yellow]these routes have no other provider and now answer 503: "
                      f"{', '.join(report['routes_only_legacy'])}[/yellow]")  # fmt: skip


@app.command()
def on(ctx: typer.Context) -> None:
    """Allow the legacy providers again on every replica (the rollback point of `jindan legacy off`)."""
    from jindan.llm.legacy_usage import switch_on

    with open_db(settings_from(ctx)) as db:
        state = switch_on(db)
    console.print(f"[green]legacy providers {state.line()}[/green]")
