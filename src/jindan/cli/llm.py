"""`jindan chat` (stream an answer from a route) and `jindan models` (Ollama model management)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from jindan.cli.context import cli_router, console, out, settings_from
from jindan.domain.routes import ROUTES
from jindan.llm.base import ChatMessage, Delta, GenOptions, ProviderError, Usage
from jindan.llm.router import Started, StreamError

if TYPE_CHECKING:
    from jindan.llm.ollama import OllamaProvider

models_app = typer.Typer(help="Ollama models on every configured host: list, ps, pull, preload.", no_args_is_help=True)


def chat(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The question."),
    route: str = typer.Option("chat", help=f"Route: {', '.join(ROUTES)}."),
    system: str | None = typer.Option(None, help="System prompt."),
    max_tokens: int | None = typer.Option(None, help="Upper bound on generated tokens."),
) -> None:
    """Stream an answer through the router (fallback, breaker, shadow as configured; legacy providers refused
    while `jindan legacy off` holds, read from the configured database)."""
    settings = settings_from(ctx)
    router = cli_router(settings)
    messages = ([ChatMessage("system", system)] if system else []) + [ChatMessage("user", prompt)]
    opts = GenOptions(temperature=settings.llm.temperature, max_tokens=max_tokens or settings.llm.max_tokens)

    async def run() -> int:
        try:
            async for event in router.stream(route, messages, opts):
                if isinstance(event, Started):
                    console.print(f"[dim]{event.provider} / {event.model}[/dim]")
                elif isinstance(event, Delta):
                    out.print(event.text, end="", soft_wrap=True, highlight=False, markup=False)
                elif isinstance(event, StreamError):
                    console.print(f"\n[red]answer broke off ({event.provider}): {event.message}[/red]")
                    return 1
                elif isinstance(event, Usage):
                    out.print()
                    console.print(
                        f"[dim]{event.prompt_tokens} prompt + {event.completion_tokens} tokens, "
                        f"TTFT {event.ttft_ms:.0f} ms, total {event.total_ms:.0f} ms, "
                        f"{event.decode_tokens_per_s:.1f} tok/s[/dim]"
                    )
        except ProviderError as exc:
            console.print(f"[red]{exc}[/red]")
            return 1
        finally:
            await router.aclose()
        return 0

    raise typer.Exit(asyncio.run(run()))


def _ollama(ctx: typer.Context) -> OllamaProvider:
    from jindan.llm.ollama import OllamaProvider

    return OllamaProvider.from_settings(settings_from(ctx))


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Models present on each host."""
    for host, names in asyncio.run(_ollama(ctx).list_models()).items():
        out.print(f"{host}: {', '.join(names) or '(none)'}")


@models_app.command("ps")
def ps(ctx: typer.Context) -> None:
    """Models loaded in memory on each host."""
    for host, names in asyncio.run(_ollama(ctx).running()).items():
        out.print(f"{host}: {', '.join(names) or '(none loaded)'}")


@models_app.command("pull")
def pull(ctx: typer.Context, model: str | None = typer.Argument(None, help="Default: the configured model.")) -> None:
    """Download a model on every host, with a progress bar."""
    provider = _ollama(ctx)
    with Progress("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=console) as bar:
        tasks: dict[str, object] = {}
        for host, status, done, total in provider.pull(model):
            task = tasks.setdefault(host, bar.add_task(host, total=None))
            bar.update(task, description=f"{host} {status}", completed=done, total=total or None)  # type: ignore[arg-type]


@models_app.command("preload")
def preload(ctx: typer.Context) -> None:
    """Load the configured model on every host now, so the first request skips the load time."""
    provider = _ollama(ctx)
    asyncio.run(provider.preload())
    console.print(f"[green]{provider.model} loaded on {len(provider.pool.hosts)} host(s)[/green]")
