"""`jindan import questions|responses FILE`: idempotent loads with a progress bar and a row-level report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from jindan.cli.context import console, open_db, settings_from
from jindan.importers.questions import import_questions, parse_mapping
from jindan.importers.reader import FileFormatError, ImportReport

app = typer.Typer(help="Import data files into PostgreSQL.", no_args_is_help=True)

MAX_ERRORS_SHOWN = 20


@contextmanager
def file_progress(path: Path, label: str) -> Iterator[Callable[[int], None]]:
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=path.stat().st_size)
        yield lambda n: bar.advance(task, n)


def print_report(report: ImportReport, unit: str) -> None:
    c = report.counts
    table = Table(title=f"import {unit}: {report.file}")
    for col in ("rows read", "inserted", "updated", "unchanged", "rejected", "changes"):
        table.add_column(col, justify="right")
    table.add_row(
        *(str(v) for v in (report.rows_read, c.inserted, c.updated, c.unchanged, len(report.errors), c.changed))
    )
    console.print(table)
    for key, value in report.detail.items():
        console.print(f"{key.replace('_', ' ')}: {value:,}")
    for err in report.errors[:MAX_ERRORS_SHOWN]:
        console.print(f"[red]line {err.line}[/red]: {err.reason}")
    if len(report.errors) > MAX_ERRORS_SHOWN:
        console.print(f"... and {len(report.errors) - MAX_ERRORS_SHOWN} more rejected rows")
    console.print(f"{c.changed} changes")


def _check(path: Path) -> None:
    if not path.is_file():
        console.print(f"[red]No such file:[/red] {path}")
        raise typer.Exit(2)


@app.command()
def questions(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="JSONL or CSV file of questions."),
    source: str | None = typer.Option(None, help="Source label (default: the file's folder name, e.g. 'math')."),
    fmt: str | None = typer.Option(None, "--format", help="jsonl | csv | tsv (default: from the extension)."),
    mapping: list[str] = typer.Option([], "--map", help="FIELD=COLUMN, e.g. --map body=question_text."),
) -> None:
    """Import questions; a second run of the same file reports 0 changes."""
    _check(file)
    try:
        fields = parse_mapping(mapping)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    settings = settings_from(ctx)
    with open_db(settings) as db:
        try:
            with file_progress(file, "questions") as advance:
                report = import_questions(db, file, source=source, fmt=fmt, mapping=fields, progress=advance)
        except FileFormatError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    print_report(report, "questions")


@app.command()
def responses(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="pyKT CSV: fold, uid, concepts, responses[, usetimes]."),
    source: str | None = typer.Option(None, help="Namespace for students and concepts (default: folder name)."),
) -> None:
    """Import response logs: creates students, concepts and their ordered responses."""
    from jindan.importers.responses import import_responses

    _check(file)
    settings = settings_from(ctx)
    with open_db(settings) as db:
        try:
            with file_progress(file, "responses") as advance:
                report = import_responses(db, file, source=source, progress=advance)
        except FileFormatError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
    print_report(report, "students")


@app.command()
def materials(ctx: typer.Context, file: Path = typer.Argument(..., help="JSONL: id, title, text[, concepts]")) -> None:
    """Import learning materials; `jindan index questions` then makes them searchable beside the questions."""
    from jindan.importers.materials import import_materials

    _check(file)
    settings = settings_from(ctx)
    with open_db(settings) as db, file_progress(file, "materials") as advance:
        report = import_materials(db, file, progress=advance)
    print_report(report, "materials")
