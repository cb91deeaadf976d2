"""`jindan diagnosis fit|student|class` and `jindan eval diagnosis`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.table import Table

from jindan.cli.context import cannot, console, open_db, out, settings_from

app = typer.Typer(help="Per-concept mastery, weak concepts, next questions.", no_args_is_help=True)


@app.command("fit")
def fit_cmd(ctx: typer.Context, l2: float = typer.Option(1.0, help="L2 penalty.")) -> None:
    """Fit the mastery model on every response in PostgreSQL and make it the active version."""
    from jindan.diagnosis.service import fit_and_store

    settings = settings_from(ctx)
    with open_db(settings) as db, console.status("fitting the mastery model"):
        try:
            model = fit_and_store(db, l2=l2)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    info = model.fit_info
    console.print(
        f"[green]model {model.version}[/green]: {info['responses']:,} responses, {info['students']:,} "
        f"students, {info['concepts']} concepts, logistic model fitted in {info['fit_s']} s"
    )
    for part, name in (("sequence", "GRU"), ("attention", "attention model"), ("boosted", "boosted trees")):
        note = info.get(part, {})
        if note.get("kind"):
            console.print(f"{name} fitted in {note['fit_s']} s, blended into next-response prediction")
        elif note.get("reason"):
            console.print(f"[yellow]{note['reason']}[/yellow]")


@app.command("student")
def student(
    ctx: typer.Context,
    user_id: int = typer.Argument(..., help="Student (user) id."),
    narrative: bool = typer.Option(True, help="Also write feedback with the LLM."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Diagnose one student (stored in the diagnoses table)."""
    from jindan.diagnosis.narrative import reader_language, write
    from jindan.diagnosis.service import NoModel, UnknownStudent, diagnose_student
    from jindan.llm.router import build_router

    settings = settings_from(ctx)
    with open_db(settings) as db:
        try:
            result = diagnose_student(db, user_id)
        except (NoModel, UnknownStudent) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        text = None
        if narrative:
            router = build_router(settings, db)
            text = asyncio.run(write(router, result, reader_language(result, settings.language)))
    if as_json:
        data = result.to_dict()
        if text:
            data["narrative"] = text.shown() | {"attempts": text.attempts}
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"student {user_id}: {result.responses} responses, ability {result.ability:.2f}")
    for col in ("concept", "mastery", "confidence", "answers", "accuracy"):
        table.add_column(col)
    for c in sorted(result.concepts, key=lambda c: c.mastery)[:15]:
        mark = " (weak)" if c.concept_id in result.weakest else " (strong)" if c.concept_id in result.strengths else ""
        table.add_row(
            c.name + mark,
            f"{c.mastery:.2f}",
            f"{c.confidence:.2f}",
            str(c.evidence),
            "" if c.accuracy is None else f"{c.accuracy:.2f}",
        )
    console.print(table)
    for r in result.recommendations:
        console.print(f"next: question {r['question_id']} ({r['concept']}, predicted {r['predicted_success']:.2f})")
    for note in result.notes:
        console.print(f"[yellow]{note}[/yellow]")
    if text:
        console.print(
            f"[bold]student[/bold]: {text.student}\n[bold]teacher[/bold]: {text.teacher} [dim]({text.source})[/dim]"
        )


@app.command("class")
def klass(
    ctx: typer.Context, class_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Class x concept mastery matrix for a teacher."""
    from jindan.diagnosis.service import class_matrix

    with open_db(settings_from(ctx)) as db:
        try:
            m = class_matrix(db, class_id)
        except LookupError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    if as_json:
        out.print_json(json.dumps(m, ensure_ascii=False))
        return
    table = Table(title=f"class {m['class']['name']}")
    table.add_column("student")
    for c in m["concepts"]:
        table.add_column(c["name"][:12])
    for s, row in zip(m["students"], m["mastery"], strict=True):
        table.add_row(s["name"], *("" if v is None else f"{v:.2f}" for v in row))
    console.print(table)


def eval_diagnosis(
    train: Path = typer.Option(..., exists=True, dir_okay=False, help="pyKT CSV to fit on."),
    test: Path = typer.Option(..., exists=True, dir_okay=False, help="pyKT CSV to predict."),
    test_fold: int | None = typer.Option(None, help="Same file for both: this fold is TEST, the rest TRAIN."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """AUC, accuracy and RMSE of next-response prediction from earlier responses only."""
    from jindan.evaluation.diagnosis import evaluate, read_sides

    with cannot("evaluate"):
        tr, te = read_sides(train, test, test_fold)
    with console.status(f"fitting on {len(tr):,} students, predicting {len(te):,}"):
        result = evaluate(tr, te)
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))
