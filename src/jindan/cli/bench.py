"""`jindan bench ...`: benchmarks print JSON on stdout and a readable table on stderr."""

from __future__ import annotations

import json

import typer
from rich.progress import Progress

from jindan.cli.context import console, out, settings_from

app = typer.Typer(help="Benchmarks (JSON on stdout).", no_args_is_help=True)


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
    from pathlib import Path

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
    from pathlib import Path

    from jindan.bench import migrate as bench_migrate
    from jindan.cli.context import open_db

    settings = settings_from(ctx)
    with open_db(settings) as db, tempfile.TemporaryDirectory(prefix="jindan-bench-") as tmp:
        result = bench_migrate.run(
            db, Path(tmp), points=points, readers=readers, progress=lambda msg: console.print(f"[dim]{msg}[/dim]")
        )
    out.print_json(json.dumps(result)) if as_json else out.print(json.dumps(result, indent=2))
