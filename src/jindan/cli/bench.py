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
