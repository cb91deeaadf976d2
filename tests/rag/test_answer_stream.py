"""The head of a streamed answer: sources go out before the model's first token, fast failures still fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from jindan.llm.base import Delta
from jindan.llm.router import AllProvidersFailed, Started
from jindan.rag.answer import RagEvent, Sources, open_stream


async def answer(gate: asyncio.Event, fail: Exception | None = None) -> AsyncIterator[RagEvent]:
    yield Sources([], [], 120, 4000)
    if fail is not None:
        raise fail
    await gate.wait()  # the model is still evaluating the prompt
    yield Started("llamacpp", "smol")
    yield Delta("Try")


def test_sources_go_out_before_the_first_token() -> None:
    async def go() -> None:
        gate = asyncio.Event()
        started = time.perf_counter()
        head, rest = await open_stream(answer(gate), grace_s=0.05)
        assert [type(e) for e in head] == [Sources] and time.perf_counter() - started < 1.0
        gate.set()
        assert [type(e) for e in [e async for e in rest]] == [Started, Delta]

    asyncio.run(go())


def test_a_first_token_within_the_grace_comes_with_the_head() -> None:
    async def go() -> None:
        gate = asyncio.Event()
        gate.set()
        head, rest = await open_stream(answer(gate), grace_s=5)
        assert [type(e) for e in head] == [Sources, Started]
        assert [type(e) for e in [e async for e in rest]] == [Delta]

    asyncio.run(go())


def test_a_failure_at_once_is_raised_for_an_http_status() -> None:
    async def go() -> None:
        with pytest.raises(AllProvidersFailed) as info:
            await open_stream(answer(asyncio.Event(), AllProvidersFailed("busy", retry_after_s=2.0)))
        assert info.value.retry_after_s == 2.0

    asyncio.run(go())


def test_closing_the_rest_early_cancels_the_pending_pull() -> None:
    async def go() -> None:
        gate = asyncio.Event()
        closed: list[bool] = []

        async def never() -> AsyncIterator[RagEvent]:
            try:
                async for ev in answer(gate):
                    yield ev
            finally:
                closed.append(True)

        head, rest = await open_stream(never(), grace_s=0.01)
        await rest.aclose()  # type: ignore[attr-defined]  # the client went away before the first token
        await asyncio.sleep(0)
        assert head and closed == [True]

    asyncio.run(go())
