"""`jindan index`, `jindan search`, `jindan eval retrieval`: the vector side from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from jindan.cli.context import cannot, console, legacy_gate, open_db, out, settings_from
from jindan.settings import Settings

index_app = typer.Typer(help="Embed and index into the vector store.", no_args_is_help=True)
eval_app = typer.Typer(help="Offline evaluations (JSON on stdout).", no_args_is_help=True)


@contextmanager
def components(settings: Settings) -> Iterator[tuple[Any, Any, Any]]:
    """Database, vector store and embedder as configured, closed afterwards."""
    from jindan.embed.registry import build_embedder
    from jindan.vectors.registry import build_store

    with open_db(settings) as db:
        store = build_store(settings, db)
        try:
            yield db, store, build_embedder(settings, legacy_gate(settings, db))
        finally:
            store.close()


def bar() -> Progress:
    return Progress("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console)


@index_app.command("questions")
def index_questions(
    ctx: typer.Context,
    rebuild: bool = typer.Option(False, help="Build a new versioned collection and switch the alias to it."),
    wait: bool = typer.Option(
        True, help="When another process is indexing: wait for it (showing its progress), then index what is left."
    ),
) -> None:
    """Embed and upsert every question and material; unchanged ones are skipped, deleted ones removed.

    One process indexes a collection at a time: a second one waits (or, with --no-wait, says who is indexing
    and exits with 3); a holder that died is taken over. Texts embedded before are read from the cache."""
    from jindan.jobs.index import run_index
    from jindan.jobs.lease import JobHeld, JobStatus
    from jindan.rag.sparse import SparseEncoder

    settings = settings_from(ctx)
    with components(settings) as (db, store, embedder), bar() as progress:
        task = progress.add_task("embedding", total=None)
        other = progress.add_task("waiting for another process", total=None, visible=False)
        passes: list[int] = []
        # auto picks its model from the bank inside the run; the summary line names the collection (and model)
        named = "" if hasattr(embedder, "for_texts") else f" ({embedder.model_id})"

        def step(n: int, total: int) -> None:
            progress.update(other, visible=False)
            if n == 0:  # a pass begins (a first index: question texts, then the worked solutions in place)
                passes.append(total)
                what = "embedding" if len(passes) == 1 else "adding worked solutions"
                progress.reset(task, total=total, description=f"{what}{named}")
            progress.update(task, total=total, advance=n)

        def waiting(status: JobStatus) -> None:
            progress.update(
                other, visible=True, total=status.total, completed=status.done,
                description=f"indexing on {status.holder}",
            )  # fmt: skip

        sparse = SparseEncoder() if settings.search.hybrid else None
        try:
            report = run_index(
                settings, db, store, embedder, rebuild=rebuild, wait=wait, on_wait=waiting, progress=step, sparse=sparse
            )
        except JobHeld as exc:
            console.print(f"[yellow]{exc}[/yellow]")
            raise typer.Exit(3) from exc
    assert report is not None  # waiting without `once` always ends with our own run
    console.print(
        f"{report.collection}{' (new)' if report.created else ''}: {report.total} items, {report.embedded} embedded, "
        f"{report.unchanged} unchanged, {report.deleted} deleted in {report.seconds:.1f} s "
        f"({report.from_cache} of them from the embedding cache); "
        f"alias '{settings.vectors.alias}' -> {report.collection}"
        + (f"; search answered after a first pass of {report.first_pass} question texts" if report.first_pass else "")
    )
    if report.phases:
        shares = sorted(report.phases.items(), key=lambda kv: -kv[1])
        console.print("where the time went: " + ", ".join(f"{k} {v:.1f} s" for k, v in shares if v >= 0.05))


@index_app.command("status")
def index_status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """How far indexing (and every other job that runs once across replicas) is, as any replica sees it."""
    from jindan.jobs.lease import Jobs

    settings = settings_from(ctx)
    with open_db(settings) as db:
        jobs = Jobs(db).all()
    if as_json:
        out.print_json(json.dumps({"jobs": [j.as_dict() for j in jobs]}))
        return
    if not jobs:
        console.print("no jobs have run yet")
        return
    table = Table(title="jobs")
    for col in ("job", "state", "holder", "progress", "started"):
        table.add_column(col)
    for j in jobs:
        table.add_row(j.name, j.state, j.holder or "", j.line(), f"{j.started_at:%Y-%m-%d %H:%M:%S}")
    console.print(table)


def search(
    ctx: typer.Context,
    text: str | None = typer.Argument(None, help="Free text (omit with --id)."),
    question_id: int | None = typer.Option(None, "--id", help="Find questions similar to this one."),
    k: int = typer.Option(10, "-k", min=1, max=100),
    subject: str | None = typer.Option(None),
    level_min: int | None = typer.Option(None),
    level_max: int | None = typer.Option(None),
    concept: list[str] = typer.Option([], help="Concept id (repeatable): any of them."),
    exclude: list[int] = typer.Option([], help="Question id to leave out (repeatable)."),
    intent: str | None = typer.Option(
        None,
        help="find: the question typed or pasted, closest match first (default for TEXT); similar: practice "
        "questions like it, itself excluded (always with --id).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Find a question by its text, or questions similar to one (by id or by text), with filters."""
    from jindan.rag.retrieve import NotFound, Retriever, SearchFilters, UnknownSubject, describe
    from jindan.rag.topics import describe as describe_topic
    from jindan.vectors.base import VectorStoreError

    if (text is None) == (question_id is None):
        console.print("[red]give either TEXT or --id[/red]")
        raise typer.Exit(2)
    chosen = intent or ("similar" if question_id is not None else "find")
    if chosen not in ("find", "similar") or (question_id is not None and chosen != "similar"):
        console.print("[red]--intent is find or similar (--id searches similar questions)[/red]")
        raise typer.Exit(2)
    settings = settings_from(ctx)
    filters = SearchFilters(subject, level_min, level_max, concept, exclude)
    with components(settings) as (db, store, embedder):
        retriever = Retriever.from_settings(settings, db, store, embedder)
        topic = None
        try:
            if question_id:
                found = retriever.similar_to(question_id, k, filters)
            elif chosen == "similar":
                practice = retriever.practice(text or "", k, filters)
                found, topic = practice.found, practice.topic
            else:
                found = retriever.search(text or "", k, filters, intent="find")
        except (NotFound, UnknownSubject, VectorStoreError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
    if as_json:
        payload: dict[str, Any] = {"intent": chosen, "results": [describe(f) for f in found]}
        if topic is not None:
            payload["topic"] = describe_topic(topic)
        out.print_json(json.dumps(payload, ensure_ascii=False))
        return
    what = f"#{question_id}" if question_id else repr(text)
    if topic is not None:
        sure = "uncertain: pick a topic with --subject" if topic.uncertain else topic.source
        console.print(f"subject: {topic.subject} ({topic.confidence:.0%}, {sure})")
    table = Table(title=f"{'find' if chosen == 'find' else 'similar to'} {what} (intent: {chosen})")
    for col in ("id", "score", "subject", "level", "question"):
        table.add_column(col)
    for f in found:
        table.add_row(str(f.id), f"{f.score:.3f}", f.subject or "", str(f.level or ""), f.text[:90].replace("\n", " "))
    console.print(table)


@eval_app.command("retrieval")
def eval_retrieval(
    ctx: typer.Context,
    intent: str = typer.Option(..., help="find (the query's own question first) or similar (same subject)."),
    corpus: Path | None = typer.Option(None, exists=True, dir_okay=False, help="corpus.jsonl {_id, title, text}"),
    queries: Path | None = typer.Option(None, exists=True, dir_okay=False, help="queries.jsonl {_id, text}"),
    qrels: Path | None = typer.Option(None, exists=True, dir_okay=False, help="qrels TSV with a header"),
    bank: Path | None = typer.Option(
        None,
        exists=True,
        help="Instead of a BEIR set: a question bank folder (questions.jsonl + queries.jsonl, e.g. "
        "src/jindan/data/ko) or a questions file (each question is its own query, e.g. the MATH bank).",
    ),
    subjects: bool = typer.Option(True, help="--bank: keep subject labels (--no-subjects: a bank without them)."),
    out_of_bank: bool = typer.Option(
        False,
        "--out-of-bank",
        help="--bank, intent similar: problems that are in no question of the bank. Half of the bank (split by a "
        "hash of the id) is indexed; the other half asks (its queries.jsonl queries, else each question's text).",
    ),
    bank_size: int | None = typer.Option(None, min=10, help="--out-of-bank: index at most this many questions."),
    max_queries: int | None = typer.Option(None, min=1, help="--out-of-bank: ask with at most this many questions."),
    export: Path | None = typer.Option(None, file_okay=False, help="--bank: also write the BEIR set here."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """recall@5, recall@10, nDCG@10, MRR and P@10 of the configured embedder, store and ranking for an intent."""
    from jindan.evaluation import banks
    from jindan.evaluation.retrieval import evaluate, load

    if intent not in ("find", "similar"):
        console.print("[red]--intent is find or similar[/red]")
        raise typer.Exit(2)
    if out_of_bank and (bank is None or intent != "similar"):
        console.print("[red]--out-of-bank needs --bank and --intent similar[/red]")
        raise typer.Exit(2)
    with cannot("read the evaluation set", KeyError, IndexError):
        if bank is not None:
            data = banks.bank_set(
                bank,
                "find" if intent == "find" else "similar",
                subjects=subjects,
                out_of_bank=out_of_bank,
                bank_size=bank_size,
                max_queries=max_queries,
            )
        elif corpus and queries and qrels:
            data = load(corpus, queries, qrels)
        else:
            console.print("[red]give --bank, or --corpus, --queries and --qrels[/red]")
            raise typer.Exit(2)
        if not data.queries or not data.corpus:
            raise ValueError(f"no {'queries' if not data.queries else 'questions'} to evaluate with")
        if bank is not None and export is not None:
            banks.export(data, export)
    from jindan.embed.cache import CachedEmbedder

    settings = settings_from(ctx)
    with components(settings) as (db, store, embedder), bar() as progress:
        tasks: dict[str, Any] = {}

        def step(phase: str, n: int, total: int) -> None:
            task = tasks.setdefault(phase, progress.add_task(phase, total=total))
            progress.advance(task, n)

        result = evaluate(
            data,
            CachedEmbedder(embedder, db),  # passages embedded once per text, as `jindan index questions` does
            store,
            settings.search,
            "find" if intent == "find" else "similar",
            batch_size=settings.embed.batch_size,
            progress=step,
        )
    out.print_json(json.dumps(result, ensure_ascii=False)) if as_json else out.print(json.dumps(result, indent=2))
