"""`jindan eval structured`: how often a schema answer completes and validates on the bank's questions (JSON)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.table import Table

from jindan.cli.context import cli_router, console, out, settings_from
from jindan.cli.search import bar
from jindan.console.demo import BANK as KO_BANK


def eval_structured(
    ctx: typer.Context,
    bank: Path = typer.Option(KO_BANK, exists=True, dir_okay=False, help="Questions (JSONL with `body`)."),
    sample: int = typer.Option(8, min=1, help="Questions drawn from the bank."),
    seed: int = typer.Option(0, help="Seed of the draw (the same questions run after run)."),
    max_tokens: int = typer.Option(160, min=1, help="max_tokens of each answer, as a client would send it."),
    route: str = typer.Option("chat", help="The route that answers (what the gateway maps model names to)."),
    mode: str = typer.Option(
        "schema",
        help="schema: the schema as response_format (constrained); prompt: the "
        "schema only in the prompt, for comparison.",
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Ask each drawn question for a short JSON answer (answer, reason, difficulty 1-5) with the schema as
    `json_schema`, the way `response_format` reaches the model through the gateway: completion_rate (ended by
    itself and parses), validation_rate (validates against the schema), finish_reason counts, latency p50."""
    from jindan.domain.routes import ROUTES
    from jindan.evaluation.structured import Outcome, ask, questions, summary

    if mode not in ("schema", "prompt"):
        console.print("[red]--mode is schema or prompt[/red]")
        raise typer.Exit(2)
    if route not in ROUTES:
        console.print(f"[red]--route is one of {', '.join(ROUTES)}[/red]")
        raise typer.Exit(2)
    settings = settings_from(ctx)
    try:
        drawn = questions(bank, sample, seed)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    router = cli_router(settings)

    async def go() -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            with bar() as progress:
                task = progress.add_task("answering with a schema", total=len(drawn))
                for q in drawn:
                    outcomes.append(await ask(router.stream, route, q, max_tokens, mode))
                    progress.advance(task)
        finally:
            await router.aclose()
        return outcomes

    chain = router.chain(route)
    result = summary(asyncio.run(go()))
    report = {
        "bank": str(bank),
        "route": route,
        "providers": chain,
        "model": settings.llm.model if chain[:1] == [settings.llm.provider] else chain[0],
        "questions": len(drawn),
        "seed": seed,
        "max_tokens": max_tokens,
        "mode": mode,
        **result,
    }
    title = f"{mode} answers: {report['model']} on {len(drawn)} questions, max_tokens {max_tokens}"
    table = Table(title=title)
    table.add_column("")
    table.add_column("value", justify="right")
    for name in ("completion_rate", "validation_rate", "parsed_rate", "total_ms_p50", "completion_tokens_p50"):
        table.add_row(name, str(report[name]))
    table.add_row("finish_reasons", ", ".join(f"{k} {v}" for k, v in result["finish_reasons"].items()))
    console.print(table)
    if as_json:
        out.print_json(json.dumps(report, ensure_ascii=False))
