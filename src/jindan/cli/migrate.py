"""`jindan migrate plan|run|verify|cutover|rollback|sync`: pgvector -> Qdrant, one step at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from jindan.cli.context import console, open_db, out, settings_from

app = typer.Typer(
    help="Migrate vectors from pgvector to Qdrant with verification, cutover and rollback.", no_args_is_help=True
)

SOURCE = typer.Option(..., "--source", help="Source table (schema.table) in the configured PostgreSQL.")
TARGET = typer.Option("", "--target", help="Target collection (default: <table>__migrated).")
TO = typer.Option(None, "--to", help="qdrant | qdrant-edge (default: JINDAN_VECTORS__STORE).")
SOURCE_URL = typer.Option(
    None,
    "--source-url",
    envvar="JINDAN_MIGRATE_SOURCE_URL",
    help="PostgreSQL holding the source table when it is not jindan's own (audit records stay in jindan's).",
)


def _inspect(db: Any, source: str, source_url: str | None, **kw: Any) -> Any:
    """The plan, read from the source database (jindan's own unless --source-url names another)."""
    from sqlalchemy import create_engine

    from jindan.migrate.plan import PlanError, inspect_source

    engine = create_engine(source_url) if source_url else db.engine
    try:
        plan = inspect_source(engine, source, **kw)
    except PlanError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    finally:
        if source_url:
            engine.dispose()
    plan.source_url = source_url
    return plan


@contextmanager
def _open(
    ctx: typer.Context, source: str, target: str, to: str | None, source_url: str | None = None, **plan_kw: Any
) -> Iterator[tuple[Any, Any, Any]]:
    from jindan.vectors.registry import build_store

    settings = settings_from(ctx)
    with open_db(settings) as db:
        plan = _inspect(db, source, source_url, target=target, **plan_kw)
        store = build_store(settings, db, to)
        try:
            yield db, store, plan
        finally:
            store.close()


@app.command("plan")
def plan_cmd(
    ctx: typer.Context,
    source: str = SOURCE,
    target: str = TARGET,
    key: str | None = typer.Option(None),
    vector: str | None = typer.Option(None),
    distance: str | None = typer.Option(None, help="cosine | euclid | dot (must match the source index)"),
    dry_run: bool = typer.Option(True, "--dry-run/--no-dry-run", help="Plan only (nothing is changed)."),
    source_url: str | None = SOURCE_URL,
) -> None:
    """Inspect the source: key, vector column and dimension, distance from the index, rows, payload, estimate."""
    from jindan.migrate.plan import describe

    with open_db(settings_from(ctx)) as db:
        plan = _inspect(db, source, source_url, key=key, vector=vector, distance=distance, target=target)
    out.print_json(json.dumps(describe(plan)))


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    source: str = SOURCE,
    target: str = TARGET,
    to: str | None = TO,
    key: str | None = typer.Option(None),
    vector: str | None = typer.Option(None),
    distance: str | None = typer.Option(None),
    readers: int = typer.Option(4, min=1, max=32),
    batch: int = typer.Option(2000, min=10, max=50_000),
    source_url: str | None = SOURCE_URL,
    again: bool = typer.Option(False, "--again", help="Copy again although a run into this target finished."),
) -> None:
    """Copy (or resume) in parallel key ranges, with checkpoints; a second run after a crash continues."""
    from jindan.migrate.run import migrate

    with (
        _open(ctx, source, target, to, source_url, key=key, vector=vector, distance=distance) as (db, store, plan),
        Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar,
    ):
        task = bar.add_task(f"{plan.schema}.{plan.table} -> {plan.target}", total=plan.rows)
        report = migrate(
            db,
            store,
            plan,
            readers=readers,
            batch=batch,
            progress=lambda n, total: bar.update(task, advance=n, total=total),
            phase=lambda msg: bar.update(task, description=msg),
            again=again,
        )
    if report.already_done:
        console.print(
            f"run {report.run_id} already copied {plan.schema}.{plan.table} into {plan.target}: nothing to do. "
            "`jindan migrate sync` catches up later changes; --again copies everything again (same ids)."
        )
        return
    console.print(
        f"run {report.run_id}{' (resumed)' if report.resumed else ''}: {report.copied:,} points in "
        f"{report.seconds:.1f} s ({report.points_per_s:,.0f}/s)"
        + (f"; optimised for search (HNSW) in {report.index_s:.1f} s" if report.index_s else "")
    )
    if report.null_vectors:
        console.print(
            f"[yellow]{len(report.null_vectors)} rows have a NULL vector and were not copied "
            f"(first keys: {', '.join(report.null_vectors[:10])})[/yellow]"
        )
    if report.counted is not None:
        color = "green" if report.counts_match else "yellow"
        console.print(
            f"[{color}]{plan.target} holds {report.counted:,} points; the source had {report.expected:,} vectors "
            f"when planned[/{color}]"
            + ("" if report.counts_match else " (rows written since: run `jindan migrate sync`)")
        )
    if report.shards:
        down = [r for r in report.shards if r["state"] != "Active"]
        console.print(
            f"{len({r['shard'] for r in report.shards})} shard(s), {len(report.shards)} replica(s), "
            f"{len(down)} not active" + "".join(f"; shard {r['shard']} on peer {r['peer']}: {r['state']}" for r in down)
        )


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    source: str = SOURCE,
    target: str = TARGET,
    to: str | None = TO,
    full: bool = typer.Option(False, help="Compare every row, not a sample."),
    sample: int = typer.Option(200, min=1),
    as_json: bool = typer.Option(False, "--json"),
    source_url: str | None = SOURCE_URL,
) -> None:
    """Counts, key sets, vectors, payloads and search agreement; pass or fail per check (recorded)."""
    from jindan.migrate.cutover import record
    from jindan.migrate.verify import verify

    with _open(ctx, source, target, to, source_url) as (db, store, plan):
        report = verify(db, store, plan, sample=sample, full=full)
        record(db, "verify", plan.target, report.to_dict())
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=str))
    else:
        table = Table(title=f"verify {report.source} -> {report.target}: {'PASS' if report.passed else 'FAIL'}")
        for col in ("check", "result", "detail"):
            table.add_column(col)
        for c in report.checks:
            table.add_row(c.name, "[green]pass[/green]" if c.passed else "[red]FAIL[/red]", json.dumps(c.detail)[:200])
        console.print(table)
    raise typer.Exit(0 if report.passed else 1)


@app.command("cutover")
def cutover_cmd(
    ctx: typer.Context,
    target: str = typer.Option(..., "--target"),
    to: str | None = TO,
    accept_sampled: bool = typer.Option(
        False, "--accept-sampled", help="Accept a verify that compared a sample of the rows (recorded)."
    ),
) -> None:
    """Point the read alias at the verified collection (atomic switch, recorded). Needs a passing verify of
    that collection on the same store that compared every row (`verify --full`), or --accept-sampled."""
    from jindan.migrate.cutover import CutoverRefused, cutover
    from jindan.vectors.base import VectorStoreError
    from jindan.vectors.registry import build_store

    settings = settings_from(ctx)
    with open_db(settings) as db:
        store = build_store(settings, db, to)
        try:
            previous = cutover(db, store, settings.vectors.alias, target, accept_sampled=accept_sampled)
        except (CutoverRefused, VectorStoreError) as exc:  # nothing switched: the alias serves what it did
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        finally:
            store.close()
    console.print(f"[green]{settings.vectors.alias} -> {target}[/green] (rollback point: {previous or 'pgvector'})")


@app.command("rollback")
def rollback_cmd(
    ctx: typer.Context,
    to: str | None = TO,
    env_file: Path = typer.Option(Path(".env"), help="Where the pgvector read path is set."),
) -> None:
    """Undo the last cutover in one command."""
    from jindan.migrate.cutover import rollback
    from jindan.vectors.registry import build_store

    settings = settings_from(ctx)
    with open_db(settings) as db:
        store = build_store(settings, db, to)
        try:
            console.print(f"[yellow]{rollback(db, store, settings.vectors.alias, env_file=env_file)}[/yellow]")
        finally:
            store.close()


@app.command("sync")
def sync_cmd(
    ctx: typer.Context,
    source: str = SOURCE,
    target: str = TARGET,
    to: str | None = TO,
    source_url: str | None = SOURCE_URL,
    overlap_s: float = typer.Option(
        60.0, "--overlap", min=0, help="Seconds read again before the watermark (writers that commit late)."
    ),
) -> None:
    """Catch up rows changed (updated_at) or deleted (trigger log) since the copy or the last sync."""
    from jindan.migrate.cutover import sync

    with _open(ctx, source, target, to, source_url) as (db, store, plan):
        try:
            detail = sync(db, store, plan, overlap_s=overlap_s)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    out.print_json(json.dumps(detail))
