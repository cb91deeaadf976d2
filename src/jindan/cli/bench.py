"""`jindan bench ...`: benchmarks print JSON on stdout and a readable table on stderr."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import Progress

from jindan.cli.context import cannot, cli_router, console, out, settings_from

app = typer.Typer(help="Benchmarks (JSON on stdout).", no_args_is_help=True)


@contextlib.contextmanager
def failing() -> Iterator[None]:
    """A bench that cannot run (an empty bank, no model, a provider down) says why and exits 1: no traceback."""
    from jindan.llm.base import ProviderError

    with cannot("run the bench", ProviderError):
        yield


@app.command("llm")
def llm(
    ctx: typer.Context,
    rounds: int = typer.Option(2, min=1, help="Passes over the fixed prompt set."),
    max_tokens: int = typer.Option(64, min=2, help="Tokens generated per prompt."),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """Embedded model through our provider path vs raw llama-cpp-python, in the same run."""
    from jindan.bench import llm as bench_llm

    settings = settings_from(ctx)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("bench llm", total=rounds * len(bench_llm.PROMPTS))
        result = bench_llm.run(settings, rounds=rounds, max_tokens=max_tokens, progress=lambda n: bar.advance(task, n))
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))
    if not as_json:
        console.print(
            f"ours {result['ours']['tokens_per_s']} tok/s vs raw {result['raw']['tokens_per_s']} tok/s "
            f"(x{result['tokens_per_s_ratio']}); TTFT p50 overhead {result['ttft_overhead_ms_p50']} ms"
        )


@app.command("api")
def api(
    ctx: typer.Context,
    seconds: int = typer.Option(10, min=1, max=600, help="Duration of the similar-question load."),
    connections: int = typer.Option(8, min=1, max=256, help="Concurrent connections of the load."),
    hints: int = typer.Option(8, min=0, max=200, help="Streamed hints requested after the load."),
    hint_concurrency: int = typer.Option(2, min=1, max=32, help="Hints in flight at once."),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """The service on loopback under a bounded load: similar-question search, then streamed hints."""
    from jindan.bench import api as bench_api

    settings = settings_from(ctx)
    try:
        with console.status("bench api") as status:
            result = bench_api.run(
                settings,
                seconds=seconds,
                connections=connections,
                hints=hints,
                hint_concurrency=hint_concurrency,
                progress=lambda msg: status.update(f"bench api: {msg}"),
            )
    except bench_api.BenchError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))
    if not as_json:
        s, h = result["similar"], result["hint"]
        console.print(
            f"similar: {s['rps']} req/s, p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, {s['errors']} errors; "
            f"hint: p50 {h['p50_ms']} ms, {h['errors']} errors"
        )


@app.command("vectors")
def vectors(
    ctx: typer.Context,
    points: int = typer.Option(100_000, min=100, help="Vectors to load into each store."),
    queries: int = typer.Option(500, min=10, help="Held-out queries."),
    ef: int = typer.Option(64, min=10, help="Search ef for both stores."),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """Embedded Qdrant vs pgvector on the same clustered 384-d data: latency, QPS, recall@10, load time."""
    import tempfile

    from jindan.bench import vectors as bench_vectors
    from jindan.cli.context import open_db

    settings = settings_from(ctx)
    with open_db(settings) as db, tempfile.TemporaryDirectory(prefix="jindan-bench-") as tmp:
        result = bench_vectors.run(
            db.engine,
            Path(tmp),
            points=points,
            queries=queries,
            ef=ef,
            progress=lambda msg: console.print(f"[dim]{msg}[/dim]"),
        )
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))


@app.command("migrate")
def migrate_bench(
    ctx: typer.Context,
    points: int = typer.Option(100_000, min=10, help="Rows in the generated pgvector table."),
    readers: int = typer.Option(4, min=1, max=32),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """pgvector -> embedded Qdrant: points/s of `migrate run` and the time of `migrate verify`."""
    import tempfile

    from jindan.bench import migrate as bench_migrate
    from jindan.cli.context import open_db

    settings = settings_from(ctx)
    with open_db(settings) as db, tempfile.TemporaryDirectory(prefix="jindan-bench-") as tmp:
        result = bench_migrate.run(
            db, Path(tmp), points=points, readers=readers, progress=lambda msg: console.print(f"[dim]{msg}[/dim]")
        )
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))


@app.command("e2e")
def e2e(
    ctx: typer.Context,
    questions: int = typer.Option(8, "--questions", min=1, help="Bank questions sampled (fixed seed)."),
    clients: int = typer.Option(4, min=1, max=32, help="Requests at once in the concurrent phase."),
    seed: int = typer.Option(0, help="Seed of the question sample."),
    explain: bool = typer.Option(True, "--explain/--no-explain", help="Also time explanations (cold and warm)."),
    hosts: str | None = typer.Option(
        None, help="Comma-separated OpenAI-compatible model servers: compare prefix-cache hits per routing policy."
    ),
    students: int = typer.Option(3, min=2, max=20, help="With --hosts: students asking each question."),
    model_name: str = typer.Option("default", help="With --hosts: the model name sent to the servers."),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """Hint and explain end to end on the configured stack: cold, warm, concurrent TTFT and quality. With
    --hosts: the hint prompts routed over several model servers, prefix-cache hits per routing policy."""
    from jindan.bench import e2e as bench_e2e
    from jindan.cli.search import components
    from jindan.rag.retrieve import Retriever

    settings = settings_from(ctx)
    if hosts:
        from jindan.bench import routing

        urls = [h.strip().rstrip("/") for h in hosts.split(",") if h.strip()]
        with components(settings) as (db, store, embedder), failing():
            retriever = Retriever.from_settings(settings, db, store, embedder)
            prompts = routing.hint_prompts(
                settings, db, retriever, cli_router(settings, db), questions=questions, students=students, seed=seed
            )
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("bench e2e --hosts", total=sum(len(v) * students for v in prompts.values()))
            result = routing.compare(prompts, urls, model=model_name, seed=seed, step=lambda: bar.advance(task))
        out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))
        return
    with components(settings) as (db, store, embedder), Progress(console=console, transient=True) as bar, failing():
        phases = 3 + (2 if explain else 0)
        task = bar.add_task("bench e2e", total=questions * phases)
        retriever = Retriever.from_settings(settings, db, store, embedder)
        result = bench_e2e.run(
            settings,
            db,
            retriever,
            cli_router(settings, db),
            questions=questions,
            clients=clients,
            seed=seed,
            explain=explain,
            progress=lambda phase: bar.advance(task, questions if phase == "explain warm" else 1),
        )
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))


@app.command("context")
def context(
    ctx: typer.Context,
    questions: int = typer.Option(8, "--questions", min=1, help="Bank questions sampled (fixed seed)."),
    seed: int = typer.Option(0, help="Seed of the question sample."),
    task: str | None = typer.Option(None, help="Only this task's variants: hint or explain."),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """What each part of the retrieved context costs (prompt tokens, first token) and adds (correct, leaks)."""
    from rich.table import Table

    from jindan.bench import context as bench_context
    from jindan.cli.search import components
    from jindan.rag.retrieve import Retriever

    if task not in (None, "hint", "explain"):
        raise typer.BadParameter("hint or explain", param_hint="--task")
    settings = settings_from(ctx)
    count = sum(1 for v in bench_context.variants() if task in (None, v[0]))
    with components(settings) as (db, store, embedder), Progress(console=console, transient=True) as bar, failing():
        progress = bar.add_task("bench context", total=questions * count)
        result = bench_context.run(
            settings,
            db,
            Retriever.from_settings(settings, db, store, embedder),
            cli_router(settings, db),
            questions=questions,
            seed=seed,
            only=task,
            progress=lambda: bar.advance(progress),
        )
    if as_json:
        out.print_json(json.dumps(result))
        return
    table = Table("task", "variant", "items", "prompt tokens", "TTFT p50 ms", "correct", "leaks", "cut")
    for r in result["variants"]:
        table.add_row(
            r["task"], r["variant"], str(r["context_items_p50"]), str(r["prompt_tokens_p50"]), str(r["ttft_ms_p50"]),
            str(r.get("correct_rate", "-")), str(r.get("leak_rate", "-")), str(r["length_rate"]),
        )  # fmt: skip
    out.print(table)


def _question_file(bank: str | None) -> Path:
    """The question file a serving benchmark starts with: ``--bank``, else the shared MATH bank."""
    from jindan.demo import shared_data

    path = Path(bank) if bank else shared_data("math/problems.jsonl")
    if path is None or not path.exists():
        console.print("[red]no question file: pass --bank[/red]")
        raise typer.Exit(1)
    return path


@app.command("shutdown")
def shutdown(
    questions: int = typer.Option(400, "--questions", min=1, help="Bank questions the fresh service indexes."),
    after: int = typer.Option(16, min=1, help="SIGTERM once this many passages are indexed (rows imported)."),
    during: str = typer.Option("index", help="The first start's step to stop: index or import."),
    bank: str | None = typer.Option(None, help="Question file (default: the shared MATH bank)."),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """`jindan serve` on a fresh home, stopped with SIGTERM while it imports or indexes its bank: seconds to
    exit, the job left."""
    from jindan.bench import shutdown as bench_shutdown

    path = _question_file(bank)
    if during not in ("index", "import"):
        console.print("[red]--during is index or import[/red]")
        raise typer.Exit(2)
    with console.status(f"serving, {during}ing, stopping"):
        result = bench_shutdown.run(path, questions=questions, after=after, during=during)
    result.pop("log")
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))


@app.command("first-start")
def first_start(
    questions: int | None = typer.Option(None, "--questions", min=1, help="Bank questions (default: the whole file)."),
    until: str = typer.Option("search", help="search: until similar search answers; full: the whole index."),
    bank: str | None = typer.Option(None, help="Question file (default: the shared MATH bank)."),
    as_json: bool = typer.Option(False, "--json", help="Only JSON on stdout."),
) -> None:
    """A fresh home's first `jindan serve`: seconds until the service answers, then until similar-question
    search answers and the index is whole."""
    from jindan.bench import first_start as bench_first

    path = _question_file(bank)
    if until not in ("search", "full"):
        console.print("[red]--until is search or full[/red]")
        raise typer.Exit(2)
    with console.status("a first start on an empty home: importing, indexing"):
        result = bench_first.run(path, questions=questions, until=until)
    result.pop("log")
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))
