"""Shadow runs: mirror a sampled share of a route's requests to another provider, in the background.

The primary answer is never delayed or changed: the shadow starts when the primary's first token arrives, runs
as its own task, and is written to PostgreSQL (``llm_comparisons``) only after both sides have finished. If
the primary breaks off, the pair is dropped (a comparison against half an answer would mislead). A shadow that
fails, times out, is cut by its server or answers nothing is recorded with ``shadow_error`` set: it is a
failed comparison, never an answer to compare. At most ``concurrency`` shadow requests per route are in flight;
the others wait their turn (inside the time budget), because a single-slot server such as ``llama_cpp.server``
cuts a running stream when the next request arrives.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from jindan.llm.base import ChatMessage, GenOptions, LLMProvider, Usage, collect
from jindan.llm.catalog import cost_usd
from jindan.llm.registry import build_provider
from jindan.settings import Settings, ShadowSettings

log = logging.getLogger(__name__)


@dataclass
class Comparison:
    route: str
    primary_provider: str
    primary_model: str
    primary_text: str
    primary_usage: Usage
    shadow_provider: str
    shadow_model: str
    shadow_text: str | None
    shadow_usage: Usage | None
    shadow_error: str | None


class ComparisonSink(Protocol):
    def record(self, comparison: Comparison) -> None: ...


class DbComparisonSink:
    """Writes comparisons to PostgreSQL for `jindan report shadow`."""

    def __init__(self, db: Any, prices: dict[str, tuple[float, float]] | None = None) -> None:
        self.db = db
        self.prices = prices or {}

    def record(self, c: Comparison) -> None:
        from jindan.db.models import LLMComparison

        def cost(u: Usage | None, model: str) -> float:
            return cost_usd(model, u.prompt_tokens, u.completion_tokens, self.prices) if u else 0.0

        with self.db.session() as s:
            s.add(
                LLMComparison(
                    route=c.route,
                    primary_provider=c.primary_provider,
                    primary_model=c.primary_model,
                    primary_text=c.primary_text,
                    primary_usage=dataclasses.asdict(c.primary_usage),
                    primary_cost_usd=cost(c.primary_usage, c.primary_model),
                    shadow_provider=c.shadow_provider,
                    shadow_model=c.shadow_model,
                    shadow_text=c.shadow_text,
                    shadow_usage=dataclasses.asdict(c.shadow_usage) if c.shadow_usage else None,
                    shadow_cost_usd=cost(c.shadow_usage, c.shadow_model),
                    shadow_error=c.shadow_error,
                )
            )


class ShadowHandle:
    def __init__(self) -> None:
        self.primary: asyncio.Future[tuple[str, Usage]] = asyncio.get_running_loop().create_future()

    def done(self, text: str, usage: Usage) -> None:
        if not self.primary.done():
            self.primary.set_result((text, usage))

    def abandon(self) -> None:
        if not self.primary.done():
            self.primary.cancel()


class ShadowRunner:
    def __init__(
        self,
        settings: Settings,
        sink: ComparisonSink,
        *,
        providers: dict[str, LLMProvider] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.rng = rng
        self._providers: dict[str, LLMProvider] = dict(providers or {})
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: dict[str, asyncio.Semaphore] = {}  # per route: shadow requests in flight
        self.observer: Any = None  # metrics: ``shadow_run(route, outcome)`` with outcome ok | failed

    def start(self, route: str, messages: list[ChatMessage], opts: GenOptions) -> ShadowHandle | None:
        cfg = self.settings.llm.shadow.get(route)
        if cfg is None or self.rng() >= cfg.sample:
            return None
        handle = ShadowHandle()
        task = asyncio.create_task(self._run(route, cfg, messages, opts, handle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return handle

    def _provider(self, cfg: ShadowSettings) -> LLMProvider:
        key = f"{cfg.provider}:{cfg.model or ''}"
        if key not in self._providers:
            self._providers[key] = build_provider(cfg.provider, self.settings, cfg.model)
        return self._providers[key]

    async def _run(
        self,
        route: str,
        cfg: ShadowSettings,
        messages: list[ChatMessage],
        opts: GenOptions,
        handle: ShadowHandle,
    ) -> None:
        text: str | None = None
        usage: Usage | None = None
        error: str | None = None
        shadow_name: str = cfg.provider
        shadow_model = cfg.model or ""
        slots = self._slots.setdefault(route, asyncio.Semaphore(cfg.concurrency))
        try:
            provider = self._provider(cfg)
            shadow_name, shadow_model = provider.name, provider.model
            answer = self._generate(slots, provider, messages, opts)
            got, usage = await asyncio.wait_for(answer, self.settings.llm.timeout_s)
            text = got
            if not got.strip():
                error = "EmptyAnswer: the shadow provider answered with no text"
        except TimeoutError:
            error = f"TimeoutError: no complete answer within {self.settings.llm.timeout_s:.0f}s (llm.timeout_s)"
        except Exception as exc:  # a failing shadow is data for the report, never an error for the user
            error = f"{type(exc).__name__}: {exc}"
        if self.observer is not None:
            self.observer.shadow_run(route, "failed" if error else "ok")
        try:
            primary_text, primary_usage = await handle.primary
        except asyncio.CancelledError:
            return
        comparison = Comparison(
            route,
            primary_usage.provider,
            primary_usage.model,
            primary_text,
            primary_usage,
            shadow_name,
            shadow_model,
            text,
            usage,
            error,
        )
        try:
            await asyncio.to_thread(self.sink.record, comparison)
        except Exception:
            log.exception("could not record a shadow comparison for route %s", route)

    @staticmethod
    async def _generate(
        slots: asyncio.Semaphore, provider: LLMProvider, messages: list[ChatMessage], opts: GenOptions
    ) -> tuple[str, Usage | None]:
        async with slots:  # the provider's stopwatch starts once the turn comes: waiting is not latency
            return await collect(provider.stream(messages, opts))

    async def drain(self, timeout_s: float | None = None) -> int:
        """Wait for running shadow tasks (shutdown, tests), at most ``timeout_s``; the ones still running then
        are cancelled and their comparisons dropped. Returns how many were dropped."""
        if not self._tasks:
            return 0
        _, late = await asyncio.wait(list(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
            log.warning("%d shadow comparison(s) dropped: not finished within %.1f s of shutdown", len(late), timeout_s)
        return len(late)
