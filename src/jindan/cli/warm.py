"""`jindan warm`: compute the prompt prefixes of tonight's questions before the students ask.

Each question's hint and explanation prompt (instructions, context, target: everything but the student's
text) is evaluated once by the embedded model and its state saved in the prefix cache on disk
($JINDAN_HOME/prefix-cache), where the service finds it: the first student's hint then starts warm.
"""

from __future__ import annotations

import asyncio

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from sqlalchemy import select

from jindan.cli.context import cli_router, console, settings_from
from jindan.cli.search import components
from jindan.db.engine import Database
from jindan.db.models import Question


def _ids(db: Database, questions: list[str], subject: str | None, every: bool, limit: int | None) -> list[int]:
    if sum((bool(questions), subject is not None, every)) != 1:
        console.print("[red]give exactly one of --questions IDS, --subject S or --all[/red]")
        raise typer.Exit(2)
    if questions:
        try:
            ids = [int(part) for item in questions for part in item.split(",") if part.strip()]
        except ValueError as exc:
            console.print(f"[red]--questions takes ids such as 12,15,40: {exc}[/red]")
            raise typer.Exit(2) from exc
        return ids[:limit] if limit else ids
    query = select(Question.id).order_by(Question.id)
    if subject is not None:
        query = query.where(Question.subject == subject)
    if limit:
        query = query.limit(limit)
    with db.session() as s:
        return list(s.scalars(query))


def warm(
    ctx: typer.Context,
    questions: list[str] = typer.Option([], "--questions", help="Question ids, comma-separated (repeatable)."),
    subject: str | None = typer.Option(None, help="Every question of this subject."),
    every: bool = typer.Option(False, "--all", help="Every question in the bank."),
    limit: int | None = typer.Option(None, min=1, help="At most this many questions."),
    task: list[str] = typer.Option(["hint", "explain"], help="Prompts to warm (repeatable): hint, explain."),
) -> None:
    """Precompute the prompt prefixes of the questions a class will work on (embedded model only)."""
    from jindan.llm.base import ProviderError
    from jindan.rag.answer import RagService
    from jindan.rag.retrieve import NotFound, Retriever
    from jindan.vectors.base import VectorStoreError

    settings = settings_from(ctx)
    unknown = sorted(set(task) - {"hint", "explain"})
    if unknown:
        console.print(f"[red]unknown task {', '.join(unknown)}: hint or explain[/red]")
        raise typer.Exit(2)
    if settings.llamacpp.prefix_cache_disk_mb == 0:
        console.print(
            "[red]the prefix cache on disk is off, so warmed prefixes would end with this command: "
            "set JINDAN_LLAMACPP__PREFIX_CACHE_DISK_MB (e.g. 1024)[/red]"
        )
        raise typer.Exit(2)
    with components(settings) as (db, store, embedder):
        ids = _ids(db, questions, subject, every, limit)
        if not ids:
            console.print("[yellow]no question matched[/yellow]")
            raise typer.Exit(1)
        router = cli_router(settings, db)
        rag = RagService(settings, db, Retriever.from_settings(settings, db, store, embedder), router)
        columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        tasks = tuple(dict.fromkeys(task))

        async def go() -> tuple[int, list[str]]:
            new, failed = 0, []
            try:
                with Progress(*columns, console=console) as bar:
                    job = bar.add_task("warming prompt prefixes", total=len(ids))
                    for qid in ids:
                        try:
                            new += await rag.warm(qid, tasks)
                        except NotFound:
                            failed.append(f"{qid} (not found)")
                        bar.advance(job)
            finally:
                await router.aclose()
            return new, failed

        try:
            new, failed = asyncio.run(go())
        except (VectorStoreError, ProviderError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        cache = getattr(router.provider(router.chain("hint")[0]), "prefix_cache", None)
    on_disk = cache.disk_bytes() / 2**20 if cache is not None else 0.0
    console.print(
        f"{len(ids) - len(failed)} question(s) warmed: {new} new prefix state(s); "
        f"{on_disk:.0f} MiB on disk (limit {settings.llamacpp.prefix_cache_disk_mb} MiB)"
    )
    if cache is not None and on_disk >= settings.llamacpp.prefix_cache_disk_mb * 0.95:
        console.print(
            "[yellow]the disk cache is full: the first prefixes were evicted; raise "
            "JINDAN_LLAMACPP__PREFIX_CACHE_DISK_MB or warm fewer questions[/yellow]"
        )
    if failed:
        console.print(f"[yellow]skipped: {', '.join(failed)}[/yellow]")
        raise typer.Exit(1)
