"""`jindan report ...`: comparison reports from what jindan recorded."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from jindan.cli.context import console, open_db, out, settings_from

app = typer.Typer(
    help="Reports: `jindan report --out DIR` writes the whole HTML report; subcommands print one part.",
    no_args_is_help=True,
    invoke_without_command=True,
)


@app.callback()
def report(
    ctx: typer.Context,
    out_dir: Path | None = typer.Option(None, "--out", help="Write report.html and its PNGs into this folder."),
    run: list[int] = typer.Option([], help="Compare run ids to show (default: the latest run of each route)."),
    bench: list[Path] = typer.Option([], help="Benchmark JSON files or folders (default: $JINDAN_HOME/bench)."),
) -> None:
    """One self-contained HTML page: compare runs, monthly cost, shadow runs, migration check, benchmarks."""
    if ctx.invoked_subcommand is not None:
        return
    if out_dir is None:
        console.print("[red]give --out DIR (or a subcommand: jindan report shadow)[/red]")
        raise typer.Exit(2)
    from jindan.reports import html
    from jindan.reports.plots import FontMissing

    settings = settings_from(ctx)
    with open_db(settings) as db:
        try:
            data = html.build(db, settings, runs=run or None, bench=bench or None)
        except LookupError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    try:
        page = html.write(data, out_dir)
    except FontMissing as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    pngs = sorted(out_dir.glob("*.png"))
    console.print(f"report: {page} ({page.stat().st_size // 1024} KB, self-contained) and {len(pngs)} PNGs")


@app.command("shadow")
def shadow(
    ctx: typer.Context,
    route: str | None = typer.Option(None, help="Only this route."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    plot: Path | None = typer.Option(None, help="Also write a PNG of answer times."),
) -> None:
    """Primary vs shadow per route: latency, tokens, cost and how much the answers agree."""
    from jindan.reports import shadow as report

    with open_db(settings_from(ctx)) as db:
        rows = report.build(db, route)
    if as_json:
        out.print_json(json.dumps(rows))
    else:
        table = Table(title="shadow comparison")
        for col in (
            "route",
            "primary",
            "shadow",
            "n",
            "failed",
            "p50 ms primary",
            "p50 ms shadow",
            "cost $ shadow",
            "agreement",
        ):
            table.add_column(col)
        for r in rows:
            reasons = ", ".join(f"{k} {v}" for k, v in r["failed_by_reason"].items())
            table.add_row(
                r["route"],
                r["primary"],
                r["shadow"],
                str(r["n"]),
                f"[red]{r['failed']} ({reasons})[/red]" if r["failed"] else "0",
                str(r["primary_total_ms_p50"]),
                "-" if r["shadow_total_ms_p50"] is None else str(r["shadow_total_ms_p50"]),
                f"{r['shadow_cost_usd']:.4f}",
                "-" if r["agreement_p50"] is None else f"{r['agreement_p50']:.2f}",
            )
        console.print(table if rows else "no shadow comparisons recorded yet (configure JINDAN_LLM__SHADOW)")
        for r in rows:
            if r["failed"]:
                console.print(
                    f"[red]{r['route']}: {r['failed']} of {r['n']} comparisons failed[/red] "
                    f"(empty, cut, timed-out or failed shadow answers; latency and agreement cover the "
                    f"{r['compared']} complete pairs only). Last error: {r['last_error']}"
                )
    if plot and rows:
        console.print(f"plot: {report.plot(rows, plot)}")
