from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from jindan.llm.base import ChatMessage, Delta, GenOptions, LLMProvider, RequestRejected, Usage
from jindan.llm.router import AllProvidersFailed, CircuitBreaker, Router, Started, StreamError
from jindan.settings import Settings
from tests.llm.fakes import Scripted

MSG = [ChatMessage("user", "hint please")]


def make(providers: dict[str, Any], chain: list[str], **llm: Any) -> Router:
    settings = Settings(llm={"routes": {"hint": chain}, "retries": 0, **llm})  # type: ignore[arg-type]
    return Router(settings, providers, backoff_s=0.01)


def run(router: Router, route: str = "hint") -> list[Any]:
    async def go() -> list[Any]:
        return [e async for e in router.stream(route, MSG, GenOptions())]

    return asyncio.run(go())


def text(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, Delta))


def test_falls_back_when_the_primary_refuses() -> None:
    a, b = Scripted("ollama", "refuse"), Scripted("openai")
    events = run(make({"ollama": a, "openai": b}, ["ollama", "openai"]))
    assert events[0] == Started("openai", "openai-model")
    assert text(events) == "answer from openai" and isinstance(events[-1], Usage)


def test_first_token_timeout_falls_back_within_the_budget() -> None:
    a, b = Scripted("ollama", "hang"), Scripted("openai")
    router = Router(
        Settings(llm={"routes": {"hint": ["ollama", "openai"]}, "retries": 0, "timeout_s": 5}),  # type: ignore[arg-type]
        {"ollama": a, "openai": b},
        first_token_timeout_s=0.2,
    )
    events = run(router)
    assert text(events) == "answer from openai"


def test_timeouts_do_not_stack() -> None:
    """Three hanging providers with retries share one budget instead of multiplying it."""
    providers = {n: Scripted(n, "hang") for n in ("ollama", "openai", "gemini")}
    router = Router(
        Settings(llm={"routes": {"hint": list(providers)}, "retries": 2, "timeout_s": 0.6}),  # type: ignore[arg-type]
        providers,  # type: ignore[arg-type]
        backoff_s=0.01,
    )
    start = time.monotonic()
    with pytest.raises(AllProvidersFailed):
        run(router)
    assert time.monotonic() - start < 0.6 + 1.0  # 3 providers x 3 tries x 0.6 s would be 5.4 s


def test_error_after_first_token_ends_cleanly_with_partial_and_no_fallback() -> None:
    a, b = Scripted("ollama", "break", text="one two three four"), Scripted("openai")
    router = make({"ollama": a, "openai": b}, ["ollama", "openai"])
    events = run(router)
    assert events[0] == Started("ollama", "ollama-model")
    assert isinstance(events[-1], StreamError)
    assert events[-1].partial == "one two" and text(events) == "one two"
    assert b.calls == 0  # never a second answer glued onto the first
    assert router.breakers["ollama"].failures == 1


def test_retry_with_backoff_then_success() -> None:
    a = Scripted("ollama", "refuse", "ok")
    router = Router(Settings(llm={"routes": {"hint": ["ollama"]}, "retries": 1}), {"ollama": a}, backoff_s=0.01)  # type: ignore[arg-type]
    assert text(run(router)) == "answer from ollama" and a.calls == 2


def test_breaker_opens_skips_and_closes_after_cooldown() -> None:
    a, b = Scripted("ollama", "refuse", "refuse", "ok"), Scripted("openai")
    router = make({"ollama": a, "openai": b}, ["ollama", "openai"], breaker_failures=2, breaker_cooldown_s=60)
    now = [1000.0]
    router.breakers["ollama"] = CircuitBreaker(2, 60, clock=lambda: now[0])
    run(router)
    run(router)
    assert router.breakers["ollama"].state == "open" and a.calls == 2
    run(router)
    assert a.calls == 2  # skipped while open
    now[0] += 61
    assert router.breakers["ollama"].state == "half-open"
    events = run(router)  # one trial goes through and succeeds
    assert events[0] == Started("ollama", "ollama-model") and router.breakers["ollama"].state == "closed"


def test_half_open_failure_reopens() -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, 10, clock=lambda: now[0])
    for _ in range(3):
        breaker.failure()
    now[0] = 11
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open"


def test_all_failing_lists_every_reason() -> None:
    router = make(
        {"ollama": Scripted("ollama", "refuse"), "openai": Scripted("openai", "refuse")}, ["ollama", "openai"]
    )
    with pytest.raises(AllProvidersFailed, match=r"ollama: .*refused.*openai: .*refused"):
        run(router)


def test_busy_everywhere_says_when_to_ask_again() -> None:
    """A full queue is not a failure: no retry, the breaker stays closed, and the error carries Retry-After."""
    a, b = Scripted("llamacpp", "busy"), Scripted("ollama", "busy")
    router = make({"llamacpp": a, "ollama": b}, ["llamacpp", "ollama"], retries=2, breaker_failures=1)
    with pytest.raises(AllProvidersFailed, match="queue full") as info:
        run(router)
    assert info.value.retry_after_s == 2.5
    assert (a.calls, b.calls) == (1, 1) and router.breakers["llamacpp"].state == "closed"


def test_busy_then_another_provider_answers_and_mixed_failures_have_no_retry_after() -> None:
    router = make({"llamacpp": Scripted("llamacpp", "busy"), "ollama": Scripted("ollama")}, ["llamacpp", "ollama"])
    assert text(run(router)) == "answer from ollama"
    router = make(
        {"llamacpp": Scripted("llamacpp", "busy"), "ollama": Scripted("ollama", "refuse")}, ["llamacpp", "ollama"]
    )
    with pytest.raises(AllProvidersFailed) as info:
        run(router)
    assert info.value.retry_after_s is None


def test_a_request_too_long_for_the_model_is_the_callers_error_not_a_provider_failure() -> None:
    """No retry, no breaker failure (other callers keep the model), the next provider may take it; refused by
    every provider, the rejection itself reaches the caller (a 400 there, never a 503)."""
    a, b = Scripted("llamacpp", "toolong"), Scripted("ollama")
    router = make({"llamacpp": a, "ollama": b}, ["llamacpp", "ollama"], retries=2, breaker_failures=1)
    assert text(run(router)) == "answer from ollama" and a.calls == 1
    assert router.breakers["llamacpp"].state == "closed"
    alone = Scripted("llamacpp", "toolong", "ok")
    router = make({"llamacpp": alone}, ["llamacpp"], retries=2, breaker_failures=1)
    with pytest.raises(RequestRejected) as info:
        run(router)
    assert info.value.code == "context_length_exceeded" and alone.calls == 1
    assert text(run(router)) == "answer from llamacpp"  # the next request is served: the circuit stayed closed


def test_real_connection_refused_falls_back_to_the_embedded_model(smol: LLMProvider) -> None:
    """Fault injection with real components: OpenAI-compatible server down -> embedded llama.cpp answers."""
    from jindan.llm.openai import OpenAIProvider

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = OpenAIProvider("gpt-4o-mini", base_url=f"http://127.0.0.1:{port}/v1", connect_timeout_s=0.5)
    router = make({"openai": down, "llamacpp": smol}, ["openai", "llamacpp"])
    events = run(router)
    assert isinstance(events[0], Started) and events[0].provider == "llamacpp"
    assert text(events) and isinstance(events[-1], Usage)


def test_default_chain_is_provider_then_fallback() -> None:
    r = Router(Settings(profile="legacy"), {})
    assert r.chain("explain") == ["openai", "gemini"]


def test_per_provider_total_timeout_bounds_each_attempt() -> None:
    a, b = Scripted("ollama", "hang"), Scripted("openai")
    settings = Settings(
        llm={  # type: ignore[arg-type]
            "routes": {"hint": ["ollama", "openai"]},
            "retries": 0,
            "timeout_s": 30,
            "provider_timeouts": {"ollama": {"connect_s": 0.5, "total_s": 0.3}},
        }
    )
    assert settings.timeouts("ollama") == (0.5, 0.3) and settings.timeouts("openai") == (3.0, 30)
    start = time.monotonic()
    events = run(Router(settings, {"ollama": a, "openai": b}))
    assert text(events) == "answer from openai"
    assert time.monotonic() - start < 5  # bounded by ollama's own 0.3 s, not the 30 s request budget
