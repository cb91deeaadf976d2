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
from typing import Any, Protocol

from jindan.llm.base import (
    ChatMessage,
    Delta,
    Event,
    GenOptions,
    LLMProvider,
    ProviderBusy,
    ProviderError,
    RateLimited,
    RequestRejected,
    ToolCallDelta,
    Usage,
)
from jindan.llm.registry import build_provider
from jindan.security.privacy import check, shadow_may_carry_student_text
from jindan.settings import Settings

SHUTTING_DOWN = "the server is shutting down; ask again in a moment"


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


RouterEvent = Started | Delta | ToolCallDelta | Usage | StreamError


class RouterObserver(Protocol):
    """Told about every provider attempt and every finished answer (metrics); must not raise."""

    def attempt(self, route: str, provider: str, outcome: str) -> None: ...  # ok|failed|broken|open|busy|off

    def fallback(self, route: str, provider: str) -> None: ...  # ``provider`` failed and the next one is tried

    def usage(self, route: str, usage: Usage) -> None: ...


class ProviderGate(Protocol):
    """Asked before each provider: the reason it is refused (the legacy switch), or None. Reads only memory."""

    def refused(self, provider: str) -> str | None: ...


class _Silent:
    def attempt(self, route: str, provider: str, outcome: str) -> None:
        pass

    def fallback(self, route: str, provider: str) -> None:
        pass

    def usage(self, route: str, usage: Usage) -> None:
        pass


class AllProvidersFailed(ProviderError):
    """No provider in the chain produced a first token; the message lists why, per provider.

    ``retry_after_s`` is set when every provider failed only because it was busy (its queue full): asked again
    after that many seconds, one may answer (HTTP: 429/503 with ``Retry-After``). None otherwise."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProvidersSwitchedOff(AllProvidersFailed):
    """Every provider of the chain is switched off (the legacy switch): not transient, the message says why and
    what restores them."""


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
        observer: RouterObserver | None = None,
    ) -> None:
        self.settings = settings
        self.observer: RouterObserver = observer or _Silent()
        self._providers: dict[str, LLMProvider] = dict(providers or {})
        self.breakers: dict[str, CircuitBreaker] = {}  # one per provider, made on first use
        self.first_token_timeout_s = first_token_timeout_s or settings.llm.timeout_s
        self.backoff_s = backoff_s
        self.shadow = shadow
        self._stop_at: float | None = None  # loop time after which no provider is waited for (shutdown)
        self._timers: set[asyncio.Timeout] = set()  # the waits on providers in progress
        self._busy_until: dict[str, float] = {}  # provider -> when its Retry-After ends (monotonic)
        self.gate: ProviderGate | None = None  # providers switched off for every replica (``llm.legacy``)

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

    def stop_streams(self, grace_s: float) -> None:
        """Shutdown: answers still streaming ``grace_s`` from now end with a ``StreamError`` (the client keeps
        the partial text); one with no token yet fails with ``AllProvidersFailed``. Call it on the event loop."""
        stop_at = asyncio.get_running_loop().time() + grace_s
        self._stop_at = stop_at if self._stop_at is None else min(self._stop_at, stop_at)
        for timer in list(self._timers):
            when = timer.when()
            if not timer.expired() and (when is None or when > self._stop_at):
                timer.reschedule(self._stop_at)

    def _stopped(self) -> bool:
        return self._stop_at is not None and asyncio.get_running_loop().time() >= self._stop_at

    def may_shadow(self, route: str, student_text: bool) -> bool:
        """Privacy: a request carrying a student's text is mirrored only where the profile allows it."""
        cfg = self.settings.llm.shadow.get(route)
        if self.shadow is None or cfg is None or (self.gate is not None and self.gate.refused(cfg.provider)):
            return False
        return not student_text or shadow_may_carry_student_text(self.settings, cfg.provider)

    async def stream(
        self, route: str, messages: list[ChatMessage], opts: GenOptions | None = None, *, student_text: bool = True
    ) -> AsyncIterator[RouterEvent]:
        """Answer ``messages`` through ``route``'s chain. ``student_text=False`` declares that no text a student
        wrote is in the messages (it decides whether a shadow run to an external provider may see them)."""
        opts = opts or GenOptions(temperature=self.settings.llm.temperature, max_tokens=self.settings.llm.max_tokens)
        shadow_ok = self.may_shadow(route, student_text) and not opts.tools  # shadows compare text answers
        deadline = time.monotonic() + self.settings.llm.timeout_s
        errors: list[str] = []
        busy: list[float] = []  # retry_after_s of each provider that refused only because it was busy
        rejected: list[RequestRejected] = []  # providers that cannot take the request as sent (too long, ...)
        only_busy = True
        switched_off = 0  # providers the gate refused
        chain = self.chain(route)
        for position, name in enumerate(chain):
            if position:
                self.observer.fallback(route, chain[position - 1])
            breaker = self.breakers.setdefault(
                name, CircuitBreaker(self.settings.llm.breaker_failures, self.settings.llm.breaker_cooldown_s)
            )
            refused = self.gate.refused(name) if self.gate is not None else None
            if refused is not None:  # switched off: skipped like an open circuit, with the reason
                only_busy = False
                switched_off += 1
                self.observer.attempt(route, name, "off")
                errors.append(f"{name}: {refused}")
                continue
            left = self._busy_until.get(name, 0.0) - time.monotonic()
            if left > 0:  # it asked not to be called before then: skipped, not counted against it
                self.observer.attempt(route, name, "busy")
                busy.append(left)
                errors.append(f"{name}: rate limited, retry after {left:.1f} s")
                continue
            for attempt in range(self.settings.llm.retries + 1):
                if not breaker.allow():
                    only_busy = False
                    self.observer.attempt(route, name, "open")
                    errors.append(f"{name}: circuit open (cooling down)")
                    break
                remaining = deadline - time.monotonic()
                if self._stopped():
                    raise AllProvidersFailed(SHUTTING_DOWN)
                if remaining <= 0:
                    raise AllProvidersFailed("time budget spent: " + "; ".join(errors or ["no provider tried"]))
                try:
                    provider = self.provider(name)
                    outcome: dict[str, bool] = {}
                    # this provider's own total timeout, never beyond the request's budget
                    attempt_deadline = min(deadline, time.monotonic() + self.settings.timeouts(name)[1])
                    answer = self._attempt(route, provider, messages, opts, attempt_deadline, outcome, shadow_ok)
                    async for event in answer:
                        yield event
                    if outcome.get("broken"):
                        breaker.failure()
                    else:
                        breaker.success()
                    self.observer.attempt(route, name, "broken" if outcome.get("broken") else "ok")
                    return
                except _ShuttingDown:
                    raise AllProvidersFailed(SHUTTING_DOWN) from None
                except _BeforeFirstToken as exc:
                    if isinstance(exc.__cause__, RequestRejected):  # the request's fault: no retry, no breaker
                        self.observer.attempt(route, name, "rejected")
                        rejected.append(exc.__cause__)
                        errors.append(f"{name}: {exc}")
                        break
                    if isinstance(exc.__cause__, ProviderBusy):  # not broken: no breaker failure, no retry
                        self.observer.attempt(route, name, "busy")
                        busy.append(exc.__cause__.retry_after_s)
                        if isinstance(exc.__cause__, RateLimited):
                            self._busy_until[name] = time.monotonic() + exc.__cause__.retry_after_s
                        errors.append(f"{name}: {exc}")
                        break
                    only_busy = False
                    self.observer.attempt(route, name, "failed")
                    breaker.failure()
                    errors.append(f"{name}: {exc}")
                    if attempt < self.settings.llm.retries:
                        await asyncio.sleep(min(self.backoff_s * 2**attempt, max(0.0, deadline - time.monotonic())))
                except ProviderError as exc:  # construction failed (missing key, SDK, model file)
                    only_busy = False
                    self.observer.attempt(route, name, "failed")
                    breaker.failure()
                    errors.append(f"{name}: {exc}")
                    break
        if chain and switched_off == len(chain):
            raise ProvidersSwitchedOff("; ".join(errors))
        if rejected and len(rejected) == len(errors):  # every provider tried refused the request as sent
            raise rejected[0]
        retry = min(busy) if busy and only_busy else None
        raise AllProvidersFailed("no provider answered: " + "; ".join(errors), retry_after_s=retry)

    async def _attempt(
        self,
        route: str,
        provider: LLMProvider,
        messages: list[ChatMessage],
        opts: GenOptions,
        deadline: float,
        outcome: dict[str, bool],
        shadow_ok: bool = False,
    ) -> AsyncIterator[RouterEvent]:
        events = provider.stream(messages, opts).__aiter__()
        loop = asyncio.get_running_loop()
        first = True
        parts: list[str] = []
        shadow = None
        try:
            while True:
                budget = deadline - time.monotonic()
                wait = min(self.first_token_timeout_s, budget) if first else budget
                until = loop.time() + max(wait, 0.001)
                try:
                    async with asyncio.timeout_at(until if self._stop_at is None else min(until, self._stop_at)) as t:
                        self._timers.add(t)  # stop_streams may move it earlier
                        try:
                            event: Event = await events.__anext__()
                        finally:
                            self._timers.discard(t)
                except StopAsyncIteration:
                    return
                except (TimeoutError, ProviderError) as exc:
                    if isinstance(exc, TimeoutError) and self._stop_at is not None and self._stop_at <= until:
                        if first:
                            raise _ShuttingDown from exc
                        yield StreamError(provider.name, SHUTTING_DOWN, "".join(parts))
                        return
                    reason = f"timed out after {wait:.1f}s" if isinstance(exc, TimeoutError) else str(exc)
                    if first:
                        raise _BeforeFirstToken(reason) from exc
                    outcome["broken"] = True
                    yield StreamError(provider.name, reason, "".join(parts))
                    return
                if first:
                    first = False
                    yield Started(provider.name, provider.model)
                    if shadow_ok:
                        shadow = self.shadow.start(route, messages, opts)
                if isinstance(event, Delta):
                    parts.append(event.text)
                elif isinstance(event, Usage):
                    self.observer.usage(route, event)
                    if shadow is not None:
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


class _ShuttingDown(Exception):
    pass


def build_router(settings: Settings, db: Any = None, *, read_switches: bool = True) -> Router:
    """The router the app and the CLI use: configured chains, shadow runs recorded in ``db`` when given, and
    the legacy switch read from it (``read_switches``: now; the app reads it once its schema is upgraded).

    Refuses (PrivacyViolation) a chain or shadow that would leave the machine without the operator's consent."""
    check(settings)
    shadow = None
    if settings.llm.shadow and db is not None:
        from jindan.llm.shadow import DbComparisonSink, ShadowRunner

        shadow = ShadowRunner(settings, DbComparisonSink(db, settings.llm.prices))
    router = Router(settings, shadow=shadow)
    if db is not None:
        from jindan.llm.legacy import LegacyGate

        router.gate = gate = LegacyGate(settings, db)
        if read_switches:
            gate.refresh()
    return router
