"""`jindan explain`, `jindan hint`, `jindan ask`: grounded answers with their sources, streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import typer

from jindan.answers.gate import Answering, Checked
from jindan.cli.context import console, out, settings_from
from jindan.cli.search import components
from jindan.llm.base import Delta, ProviderError, Usage
from jindan.llm.router import Started, StreamError, build_router
from jindan.rag.answer import Cited, RagEvent, RagService, Sources
from jindan.rag.prompt import PromptTooLong
from jindan.rag.retrieve import NotFound, Retriever
from jindan.vectors.base import VectorStoreError


def _run(ctx: typer.Context, start: Callable[[RagService], AsyncIterator[RagEvent]]) -> None:
    settings = settings_from(ctx)
    with components(settings) as (db, store, embedder):
        router = build_router(settings, db)
        rag = RagService(settings, db, Retriever.from_settings(settings, db, store, embedder), router)

        async def go() -> int:
            try:
                async for ev in start(rag):
                    _show(ev)
            except (NotFound, VectorStoreError, PromptTooLong, ProviderError, ValueError) as exc:
                console.print(f"[red]{exc}[/red]")
                return 1
            finally:
                await router.aclose()
            return 0

        code = asyncio.run(go())
    raise typer.Exit(code)


def _show(ev: RagEvent) -> None:
    if isinstance(ev, Sources):
        for c in ev.citations:
            console.print(f"[dim][{c.n}] {c.kind} {c.id}: {c.title}[/dim]")
        if ev.cut:
            console.print(f"[yellow]{len(ev.cut)} retrieved item(s) cut to fit the context budget[/yellow]")
    elif isinstance(ev, Started):
        console.print(f"[dim]{ev.provider} / {ev.model}[/dim]")
    elif isinstance(ev, Answering) and ev.source != "model":
        out.print()
        why = f" ({ev.reason})" if ev.reason else ""
        level = f" level {ev.level}" if ev.level else ""
        console.print(f"[yellow]from the bank: {ev.kind}{level}{why}[/yellow]")
    elif isinstance(ev, Checked):
        failed = [f"{v.check}: {v.reason}" for v in ev.checks if not v.passed]
        verdict = "passed the checks" if ev.passed else "did not pass: " + "; ".join(failed)
        model = {True: "passed", False: "failed", None: "not asked"}[ev.model_passed]
        console.print(f"[dim]shown: {ev.source}, {verdict}; the model's own answer {model}[/dim]")
    elif isinstance(ev, Delta):
        out.print(ev.text, end="", soft_wrap=True, highlight=False, markup=False)
    elif isinstance(ev, StreamError):
        console.print(f"\n[red]answer broke off: {ev.message}[/red]")
    elif isinstance(ev, Usage):
        out.print()
        console.print(f"[dim]TTFT {ev.ttft_ms:.0f} ms, {ev.completion_tokens} tokens, {ev.total_ms:.0f} ms[/dim]")
    elif isinstance(ev, Cited):
        console.print(f"[dim]cited: {', '.join(str(c.id) for c in ev.citations) or 'none'}[/dim]")


def explain(ctx: typer.Context, question_id: int = typer.Argument(..., help="Question id.")) -> None:
    """Explain a question step by step, grounded in similar questions and materials."""
    _run(ctx, lambda rag: rag.explain(question_id))


def hint(
    ctx: typer.Context,
    question_id: int = typer.Argument(..., help="Question id."),
    answer: str | None = typer.Option(None, "--answer", help="What the student wrote (treated as data)."),
    level: int = typer.Option(1, "--level", min=1, max=10, help="Hint ladder level when the bank answers."),
) -> None:
    """One checked hint for the next step, without giving the answer away."""
    _run(ctx, lambda rag: rag.hint(question_id, answer, level=level))


def ask(ctx: typer.Context, text: str = typer.Argument(..., help="The student's question.")) -> None:
    """Answer a free question, grounded in the bank and the materials."""
    _run(ctx, lambda rag: rag.ask(text))
