"""Shutdown of the LLM layer: answers get a grace period then end with an error event; shadow runs a bound."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from jindan.db.engine import Database
from jindan.llm.base import ChatMessage, Delta, GenOptions, Usage
from jindan.llm.router import SHUTTING_DOWN, AllProvidersFailed, Router, StreamError
from jindan.settings import Settings
from tests.llm.fakes import Scripted
from tests.llm.test_shadow import rows, setup

MSG = [ChatMessage("user", "hint please")]
WORDS = " ".join(f"w{i}" for i in range(40))  # "slow" plays one word per 50 ms: 2 s in all


def make(*providers: Scripted, timeout_s: float = 30) -> Router:
    settings = Settings(llm={"routes": {"hint": [p.name for p in providers]}, "retries": 0, "timeout_s": timeout_s})  # type: ignore[arg-type]
    return Router(settings, {p.name: p for p in providers})  # type: ignore[misc]


async def stop_after_first_delta(router: Router, grace_s: float) -> tuple[list[Any], float]:
    """Stream a hint; shutdown begins when the first token has arrived. Returns the events and the seconds
    from the shutdown to the end of the stream."""
    events: list[Any] = []
    stopped = 0.0
    async for event in router.stream("hint", MSG, GenOptions()):
        events.append(event)
        if isinstance(event, Delta) and not stopped:
            router.stop_streams(grace_s)
            stopped = time.monotonic()
    return events, time.monotonic() - stopped


def test_an_answer_that_ends_within_the_grace_period_is_kept() -> None:
    router = make(Scripted("llamacpp", "slow", text="four words in all"))
    events, _ = asyncio.run(stop_after_first_delta(router, grace_s=3))
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "four words in all"
    assert isinstance(events[-1], Usage)


def test_an_answer_still_streaming_after_the_grace_period_ends_with_an_error_event() -> None:
    router = make(Scripted("llamacpp", "slow", text=WORDS))
    events, seconds = asyncio.run(stop_after_first_delta(router, grace_s=0.3))
    last = events[-1]
    assert isinstance(last, StreamError) and (last.provider, last.message) == ("llamacpp", SHUTTING_DOWN)
    sent = "".join(e.text for e in events if isinstance(e, Delta))
    assert last.partial == sent and 0 < len(sent) < len(WORDS)
    assert 0.25 < seconds < 1.5
    assert router.breakers["llamacpp"].failures == 0  # a shutdown is not the provider's fault


def test_a_wait_for_the_first_token_is_cut_and_not_passed_to_the_fallback() -> None:
    hanging, fallback = Scripted("llamacpp", "hang"), Scripted("ollama")
    router = make(hanging, fallback)

    async def go() -> float:
        asyncio.get_running_loop().call_later(0.1, router.stop_streams, 0.2)
        start = time.monotonic()
        with pytest.raises(AllProvidersFailed, match="shutting down"):
            [e async for e in router.stream("hint", MSG, GenOptions())]
        return time.monotonic() - start

    assert asyncio.run(go()) < 2  # not the 30 s first-token timeout
    assert fallback.calls == 0


def test_requests_after_the_grace_period_are_refused() -> None:
    provider = Scripted("llamacpp")
    router = make(provider)

    async def go() -> None:
        router.stop_streams(0)
        with pytest.raises(AllProvidersFailed, match="shutting down"):
            [e async for e in router.stream("hint", MSG, GenOptions())]

    asyncio.run(go())
    assert provider.calls == 0


def test_shadow_drain_is_bounded_and_drops_what_is_late(db: Database) -> None:
    _, runner, _, shadow = setup(db, shadow_script="hang")

    async def go() -> tuple[int, float]:
        handle = runner.start("explain", [ChatMessage("user", "explain")], GenOptions())
        assert handle is not None
        handle.done("the primary's answer", Usage("llamacpp", "smollm2", 5, 3, 1, 2))
        await asyncio.sleep(0.05)  # the shadow is now waiting on its provider
        start = time.monotonic()
        dropped = await runner.drain(0.2)
        return dropped, time.monotonic() - start

    dropped, seconds = asyncio.run(go())
    assert dropped == 1 and seconds < 1.5
    assert rows(db) == []  # half a comparison is never recorded
    assert shadow.calls == 1


def test_a_second_shutdown_call_never_extends_the_grace_period() -> None:
    hanging = Scripted("llamacpp", "hang")
    router = make(hanging)

    async def go() -> float:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, router.stop_streams, 0.2)
        loop.call_later(0.15, router.stop_streams, 30)  # a later, longer grace: the earlier end stands
        start = time.monotonic()
        with pytest.raises(AllProvidersFailed, match="shutting down"):
            [e async for e in router.stream("hint", MSG, GenOptions())]
        return time.monotonic() - start

    assert asyncio.run(go()) < 2


def test_a_shutdown_never_delays_a_timeout_that_comes_first() -> None:
    hanging, fallback = Scripted("llamacpp", "hang"), Scripted("ollama")
    settings = Settings(llm={"routes": {"hint": ["llamacpp", "ollama"]}, "retries": 0, "timeout_s": 30})  # type: ignore[arg-type]
    router = Router(settings, {"llamacpp": hanging, "ollama": fallback}, first_token_timeout_s=0.3)  # type: ignore[dict-item]

    async def go() -> tuple[list[Any], float]:
        asyncio.get_running_loop().call_later(0.05, router.stop_streams, 20)
        start = time.monotonic()
        events = [e async for e in router.stream("hint", MSG, GenOptions())]
        return events, time.monotonic() - start

    events, seconds = asyncio.run(go())
    assert seconds < 2  # the 0.3 s first-token timeout, not the 20 s grace period
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "answer from ollama"


def test_the_earliest_of_several_shutdown_deadlines_holds() -> None:
    provider = Scripted("llamacpp")
    router = make(provider)

    async def go() -> None:
        router.stop_streams(0)
        router.stop_streams(30)  # a later call with a longer grace does not reopen the door
        with pytest.raises(AllProvidersFailed, match="shutting down"):
            [e async for e in router.stream("hint", MSG, GenOptions())]

    asyncio.run(go())
    assert provider.calls == 0
