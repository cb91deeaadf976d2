"""`jindan eval answers`: the answer checks over a bank, shipped path and the model's own answers (JSON)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.table import Table

from jindan.cli.context import console, out, settings_from
from jindan.cli.search import bar, components
from jindan.console.demo import BANK as KO_BANK

TASK_CHOICES = ("hint", "explain", "both")


def _external_ids(path: Path) -> set[str]:
    ids = set()
    for line in path.open(encoding="utf-8"):
        if line.strip():
            row = json.loads(line)
            ids.add(str(row.get("id") or row.get("_id") or row.get("question_id")))
    return ids


def eval_answers(
    ctx: typer.Context,
    bank: Path = typer.Option(
        KO_BANK,
        exists=True,
        help="Questions with answer keys and solutions (a folder with questions.jsonl or a "
        "JSONL file): imported (idempotent) and indexed first. Default: the packaged Korean bank.",
    ),
    task: str = typer.Option("both", help="hint, explain or both."),
    sample: int = typer.Option(16, min=1, help="Questions drawn from the bank."),
    seed: int = typer.Option(0, help="Seed of the draw (the same questions run after run)."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """What students are shown (presentable_rate, fallback_rate, leaks, correct answers, latency) and how the
    model's own answers fare (model_pass_rate, each check's failure rate), with failing examples."""
    from sqlalchemy import select

    from jindan.db.models import Question
    from jindan.evaluation.answers import evaluate
    from jindan.evaluation.answers import sample as draw
    from jindan.importers.questions import import_questions
    from jindan.jobs.index import run_index
    from jindan.llm.router import build_router
    from jindan.rag.answer import RagService
    from jindan.rag.retrieve import Retriever

    if task not in TASK_CHOICES:
        console.print(f"[red]--task is one of {', '.join(TASK_CHOICES)}[/red]")
        raise typer.Exit(2)
    tasks = ("hint", "explain") if task == "both" else (task,)
    questions = bank / "questions.jsonl" if bank.is_dir() else bank
    settings = settings_from(ctx)
    with components(settings) as (db, store, embedder), bar() as progress:
        report = import_questions(db, questions)
        if report.errors:
            console.print(f"[yellow]{len(report.errors)} rows of {questions} were not imported[/yellow]")
        indexing = progress.add_task("indexing the bank", total=None)
        run_index(
            settings,
            db,
            store,
            embedder,
            progress=lambda n, total: progress.update(indexing, advance=n, total=total),  # n: this batch
        )
        wanted = _external_ids(questions)
        with db.session() as s:
            rows = s.execute(select(Question.id, Question.external_id)).all()
        ids_in_bank = [qid for qid, ext in rows if ext in wanted]
        router = build_router(settings, db)
        rag = RagService(settings, db, Retriever.from_settings(settings, db, store, embedder), router)

        try:
            ids = draw(db, None, sample, seed, among=ids_in_bank)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        answering = progress.add_task("answering", total=len(ids) * len(tasks))

        async def go() -> dict[str, object]:
            try:
                return await evaluate(rag, ids, tasks, lambda _: progress.advance(answering))
            finally:
                await router.aclose()

        result = asyncio.run(go())
    summary = {
        "bank": str(bank),
        "model": f"{settings.llm.provider}/{settings.llm.model}",
        "questions": len(ids),
        "seed": seed,
        **result,
    }
    _table(summary, tasks)
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))


def _table(summary: dict[str, object], tasks: tuple[str, ...]) -> None:
    table = Table(title=f"answers: {summary['model']} on {summary['questions']} questions")
    table.add_column("")
    for t in tasks:
        table.add_column(t, justify="right")
    rows = (
        "presentable_rate",
        "model_pass_rate",
        "model_asked_rate",
        "fallback_rate",
        "leak_rate",
        "model_leak_rate",
        "correct_rate",
        "model_correct_rate",
        "ttft_ms_p50",
        "total_ms_p50",
    )
    for name in rows:
        cells = [summary[t].get(name) for t in tasks]  # type: ignore[attr-defined]
        table.add_row(name, *("-" if c is None else str(c) for c in cells))
    for t in tasks:
        failures = summary[t].get("failures") or {}  # type: ignore[attr-defined]
        table.add_row(f"{t}: model failures", ", ".join(f"{k} {v:.0%}" for k, v in failures.items()) or "-")
    console.print(table)
