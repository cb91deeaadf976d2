"""What the router passes on and what it says: the caller's options reach the provider and the shadow
unchanged, a broken answer names its provider and the reason, and only the first token has the short wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jindan.db.engine import Database
from jindan.llm.base import ChatMessage, Delta, Event, GenOptions, Usage
from jindan.llm.router import AllProvidersFailed, Router, StreamError
from jindan.settings import Settings
from tests.llm.fakes import Scripted
from tests.llm.test_shadow import setup

MSG = [ChatMessage("user", "hint please")]
OPTS = GenOptions(temperature=0.0, max_tokens=77, json_schema={"type": "object"}, stop=("\n\n",), seed=3)


def run(router: Router, opts: GenOptions | None = OPTS, route: str = "hint") -> list[Any]:
    async def go() -> list[Any]:
        return [e async for e in router.stream(route, MSG, opts)]

    return asyncio.run(go())


def router_for(*providers: Any, first_token_timeout_s: float | None = None, timeout_s: float = 30) -> Router:
    settings = Settings(
        llm={"routes": {"hint": [p.name for p in providers]}, "retries": 0, "timeout_s": timeout_s}  # type: ignore[arg-type]
    )
    return Router(settings, {p.name: p for p in providers}, first_token_timeout_s=first_token_timeout_s)


def test_the_caller_s_options_reach_the_provider_and_the_fallback_unchanged() -> None:
    down, up = Scripted("ollama", "refuse"), Scripted("openai")
    run(router_for(down, up))
    assert [r[1] for r in down.requests] == [OPTS] and [r[1] for r in up.requests] == [OPTS]
    assert up.requests[0][0] == MSG


def test_the_shadow_gets_the_same_options(db: Database) -> None:
    router, runner, primary, shadow = setup(db)

    async def go() -> None:
        [e async for e in router.stream("explain", MSG, OPTS)]
        await runner.drain()

    asyncio.run(go())
    assert primary.requests[0][1] == OPTS and shadow.requests[0][1] == OPTS


def test_a_broken_answer_names_its_provider_and_the_reason() -> None:
    events = run(router_for(Scripted("ollama", "break", text="one two three")))
    last = events[-1]
    assert isinstance(last, StreamError)
    assert (last.provider, last.message, last.partial) == ("ollama", "ollama: connection reset", "one two")


class Stalls:
    """Sends one token, goes quiet for ``gap`` seconds, then finishes."""

    name, model = "ollama", "stalls"

    def __init__(self, gap: float) -> None:
        self.gap = gap

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        yield Delta("first")
        await asyncio.sleep(self.gap)
        yield Delta(" second")
        yield Usage(self.name, self.model, 1, 2)

    async def health(self) -> tuple[bool, str]:
        return True, "stalls"

    async def aclose(self) -> None:
        return None


def test_after_the_first_token_the_answer_has_the_whole_budget() -> None:
    events = run(router_for(Stalls(gap=0.5), first_token_timeout_s=0.2))  # a pause longer than the first wait
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "first second"
    assert isinstance(events[-1], Usage)


def test_a_stall_past_the_budget_ends_with_a_timeout_event() -> None:
    events = run(router_for(Stalls(gap=5), timeout_s=0.4))
    last = events[-1]
    assert isinstance(last, StreamError) and last.provider == "ollama" and last.partial == "first"
    assert last.message.startswith("timed out after")


class Recorder:
    """A router observer (what metrics receive), keeping every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def attempt(self, route: str, provider: str, outcome: str) -> None:
        self.calls.append(("attempt", route, provider, outcome))

    def fallback(self, route: str, provider: str) -> None:
        self.calls.append(("fallback", route, provider))

    def usage(self, route: str, usage: Usage) -> None:
        self.calls.append(("usage", route, usage.provider))


def test_the_observer_hears_each_attempt_the_fallback_and_the_usage_per_route() -> None:
    seen = Recorder()
    settings = Settings(llm={"routes": {"hint": ["ollama", "openai"]}, "retries": 0})  # type: ignore[arg-type]
    providers = {"ollama": Scripted("ollama", "refuse"), "openai": Scripted("openai")}
    router = Router(settings, providers, observer=seen)  # type: ignore[arg-type]
    run(router)
    assert seen.calls == [
        ("attempt", "hint", "ollama", "failed"),
        ("fallback", "hint", "ollama"),
        ("usage", "hint", "openai"),
        ("attempt", "hint", "openai", "ok"),
    ]


def test_without_options_the_configured_temperature_and_length_are_used() -> None:
    p = Scripted("ollama")
    settings = Settings(llm={"routes": {"hint": ["ollama"]}, "temperature": 0.7, "max_tokens": 99})  # type: ignore[arg-type]
    run(Router(settings, {"ollama": p}), opts=None)  # type: ignore[dict-item]
    assert p.requests[0][1] == GenOptions(temperature=0.7, max_tokens=99)


def test_a_breaker_made_from_the_settings_opens_and_the_fallback_answers() -> None:
    a, b = Scripted("ollama", "refuse"), Scripted("openai")
    settings = Settings(
        llm={
            "routes": {"hint": ["ollama", "openai"], "chat": ["ollama"]},
            "retries": 0,  # type: ignore[arg-type]
            "breaker_failures": 1,
            "breaker_cooldown_s": 60,
        }
    )
    seen = Recorder()
    router = Router(settings, {"ollama": a, "openai": b}, observer=seen)  # type: ignore[dict-item]
    run(router)
    second = run(router)  # ollama's breaker is open: skipped, and openai still answers
    assert a.calls == 1 and "".join(e.text for e in second if isinstance(e, Delta)) == "answer from openai"
    assert ("attempt", "hint", "ollama", "open") in seen.calls
    with pytest.raises(AllProvidersFailed, match=r"ollama: circuit open \(cooling down\)") as info:
        run(router, route="chat")
    assert info.value.retry_after_s is None


def test_a_spent_budget_is_said() -> None:
    providers = {n: Scripted(n, "hang") for n in ("ollama", "openai")}
    settings = Settings(llm={"routes": {"hint": list(providers)}, "retries": 1, "timeout_s": 0.3})  # type: ignore[arg-type]
    with pytest.raises(AllProvidersFailed, match="time budget spent: ollama: timed out"):
        run(Router(settings, providers, backoff_s=0.01))  # type: ignore[arg-type]


def test_busy_and_broken_together_give_no_retry_after() -> None:
    """Retry-After is promised only when every provider was merely busy."""
    busy, seen = Scripted("ollama", "busy"), Recorder()
    down = Scripted("openai", "refuse")
    settings = Settings(llm={"routes": {"hint": ["ollama", "openai"]}, "retries": 0})  # type: ignore[arg-type]
    with pytest.raises(AllProvidersFailed) as info:
        run(Router(settings, {"ollama": busy, "openai": down}, observer=seen))  # type: ignore[dict-item]
    assert info.value.retry_after_s is None
    assert ("attempt", "hint", "ollama", "busy") in seen.calls and ("attempt", "hint", "openai", "failed") in seen.calls


def test_student_text_is_never_shadowed_to_an_external_provider_unless_allowed() -> None:
    shadow = {"explain": {"provider": "openai", "model": "gpt-4o-mini", "sample": 1.0}}
    guarded = Settings(llm={"shadow": shadow}, privacy={"allow": ["openai"]})  # type: ignore[arg-type]
    router = Router(guarded, {}, shadow=object())
    assert router.may_shadow("explain", student_text=False)
    assert not router.may_shadow("explain", student_text=True)
    assert not router.may_shadow("hint", student_text=False)  # no shadow configured for the route
    opened = Settings(llm={"shadow": shadow}, privacy={"allow": ["openai"], "shadow_student_text": True})  # type: ignore[arg-type]
    assert Router(opened, {}, shadow=object()).may_shadow("explain", student_text=True)


def test_a_request_is_taken_to_carry_student_text_unless_said(db: Database) -> None:
    """The default is the safe one: without ``student_text=False`` an external shadow gets nothing."""
    router, runner, _, shadow = setup(db)
    router.settings.privacy.shadow_student_text = False  # the API may get questions, not what students wrote

    async def go(**kw: Any) -> None:
        [e async for e in router.stream("explain", MSG, OPTS, **kw)]
        await runner.drain()

    asyncio.run(go())
    assert shadow.calls == 0
    asyncio.run(go(student_text=False))
    assert shadow.calls == 1


def test_a_provider_that_cannot_be_built_falls_through_to_the_next() -> None:
    """No API key: the construction error is recorded and the fallback answers; alone, it is named."""
    seen = Recorder()
    settings = Settings(llm={"routes": {"hint": ["openai", "ollama"], "chat": ["openai"]}, "retries": 0})  # type: ignore[arg-type]
    router = Router(settings, {"ollama": Scripted("ollama")}, observer=seen)  # type: ignore[dict-item]
    events = run(router)
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "answer from ollama"
    assert ("attempt", "hint", "openai", "failed") in seen.calls
    with pytest.raises(AllProvidersFailed, match=r"no provider answered: openai: .*JINDAN_OPENAI__API_KEY"):
        run(router, route="chat")
