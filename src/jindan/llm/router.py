"""Named routes (explain, hint, diagnosis, chat) over ordered provider chains.

Rules, in the order they protect the user:
- fallback only before the first token: once text reached the client, a failure ends the stream with a clean
  ``StreamError`` event carrying the partial text (never a second, different answer glued on);
- one time budget for the whole request (``llm.timeout_s``): retries and fallbacks spend from it, so timeouts
  cannot stack into minutes; the first token must come within ``first_token_timeout_s`` of each attempt;
- a circuit breaker per provider skips a provider after ``breaker_failures`` consecutive failures for
  ``breaker_cooldown_s``, then lets one trial request through (half-open);
- shadow runs (``shadow.py``) start in the background and never delay or change the primary answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from jindan.llm.base import ChatMessage, Delta, Event, GenOptions, LLMProvider, ProviderError, Usage
from jindan.llm.registry import build_provider
from jindan.settings import Settings

ROUTES = ("explain", "hint", "diagnosis", "chat")


@dataclass(frozen=True)
class Started:
    """The provider that is answering (sent before the first delta)."""

    provider: str
    model: str


@dataclass(frozen=True)
class StreamError:
    """The answer broke off after text was sent; ``partial`` is what the client has."""

    provider: str
    message: str
    partial: str


RouterEvent = Started | Delta | Usage | StreamError


class AllProvidersFailed(ProviderError):
    """No provider in the chain produced a first token; the message lists why, per provider."""


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold or self.state == "half-open":
            self.opened_at = self.clock()


class Router:
    def __init__(
        self,
        settings: Settings,
        providers: dict[str, LLMProvider] | None = None,
        *,
        first_token_timeout_s: float | None = None,
        backoff_s: float = 0.2,
        shadow: Any = None,
    ) -> None:
        self.settings = settings
        self._providers: dict[str, LLMProvider] = dict(providers or {})
        self.breakers: dict[str, CircuitBreaker] = {}  # one per provider, made on first use
        self.first_token_timeout_s = first_token_timeout_s or settings.llm.timeout_s
        self.backoff_s = backoff_s
        self.shadow = shadow

    def chain(self, route: str) -> list[str]:
        llm = self.settings.llm
        return list(llm.routes.get(route) or [llm.provider, *llm.fallback])

    def token_counter(self, route: str) -> Callable[[str], int] | None:
        """The primary provider's exact tokenizer for this route, when it has one (llama.cpp does)."""
        try:
            provider = self.provider(self.chain(route)[0])
        except ProviderError:
            return None
        counter = getattr(provider, "count_tokens", None)
        return counter if callable(counter) else None

    def provider(self, name: str) -> LLMProvider:
        if name not in self._providers:
            self._providers[name] = build_provider(name, self.settings)
        return self._providers[name]

    async def stream(
        self, route: str, messages: list[ChatMessage], opts: GenOptions | None = None
    ) -> AsyncIterator[RouterEvent]:
        opts = opts or GenOptions(temperature=self.settings.llm.temperature, max_tokens=self.settings.llm.max_tokens)
        deadline = time.monotonic() + self.settings.llm.timeout_s
        errors: list[str] = []
        for name in self.chain(route):
            breaker = self.breakers.setdefault(
                name, CircuitBreaker(self.settings.llm.breaker_failures, self.settings.llm.breaker_cooldown_s)
            )
            for attempt in range(self.settings.llm.retries + 1):
                if not breaker.allow():
                    errors.append(f"{name}: circuit open (cooling down)")
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AllProvidersFailed("time budget spent: " + "; ".join(errors or ["no provider tried"]))
                try:
                    provider = self.provider(name)
                    outcome: dict[str, bool] = {}
                    # this provider's own total timeout, never beyond the request's budget
                    attempt_deadline = min(deadline, time.monotonic() + self.settings.timeouts(name)[1])
                    async for event in self._attempt(route, provider, messages, opts, attempt_deadline, outcome):
                        yield event
                    if outcome.get("broken"):
                        breaker.failure()
                    else:
                        breaker.success()
                    return
                except _BeforeFirstToken as exc:
                    breaker.failure()
                    errors.append(f"{name}: {exc}")
                    if attempt < self.settings.llm.retries:
                        await asyncio.sleep(min(self.backoff_s * 2**attempt, max(0.0, deadline - time.monotonic())))
                except ProviderError as exc:  # construction failed (missing key, SDK, model file)
                    breaker.failure()
                    errors.append(f"{name}: {exc}")
                    break
        raise AllProvidersFailed("no provider answered: " + "; ".join(errors))

    async def _attempt(
        self,
        route: str,
        provider: LLMProvider,
        messages: list[ChatMessage],
        opts: GenOptions,
        deadline: float,
        outcome: dict[str, bool],
    ) -> AsyncIterator[RouterEvent]:
        events = provider.stream(messages, opts).__aiter__()
        first = True
        parts: list[str] = []
        shadow = None
        try:
            while True:
                budget = deadline - time.monotonic()
                wait = min(self.first_token_timeout_s, budget) if first else budget
                try:
                    event: Event = await asyncio.wait_for(events.__anext__(), timeout=max(wait, 0.001))
                except StopAsyncIteration:
                    return
                except (TimeoutError, ProviderError) as exc:
                    reason = f"timed out after {wait:.1f}s" if isinstance(exc, TimeoutError) else str(exc)
                    if first:
                        raise _BeforeFirstToken(reason) from exc
                    outcome["broken"] = True
                    yield StreamError(provider.name, reason, "".join(parts))
                    return
                if first:
                    first = False
                    yield Started(provider.name, provider.model)
                    if self.shadow is not None:
                        shadow = self.shadow.start(route, messages, opts)
                if isinstance(event, Delta):
                    parts.append(event.text)
                elif shadow is not None:
                    shadow.done("".join(parts), event)
                yield event
        finally:
            if shadow is not None:
                shadow.abandon()  # no-op when the primary finished
            await events.aclose()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


class _BeforeFirstToken(Exception):
    pass


def build_router(settings: Settings, db: Any = None) -> Router:
    """The router the app and the CLI use: configured chains, shadow runs recorded in ``db`` when given."""
    shadow = None
    if settings.llm.shadow and db is not None:
        from jindan.llm.shadow import DbComparisonSink, ShadowRunner

        shadow = ShadowRunner(settings, DbComparisonSink(db, settings.llm.prices))
    return Router(settings, shadow=shadow)
