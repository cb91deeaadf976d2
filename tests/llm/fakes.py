"""A scripted provider for router fault injection (the real providers are covered by the contract suite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from jindan.llm.base import (
    ChatMessage,
    Delta,
    Event,
    GenOptions,
    ProviderBusy,
    ProviderUnavailable,
    RequestRejected,
    StreamInterrupted,
    ToolCall,
    ToolCallDelta,
    Usage,
)


class Scripted:
    """Plays one behaviour per call from ``script`` (the last one repeats): ok | refuse | busy | hang | break |
    slow | toolong (busy: a full queue, ``ProviderBusy`` with ``retry_after_s`` 2.5; toolong: the prompt exceeds
    the context window, ``RequestRejected``)."""

    def __init__(self, name: str, *script: str, text: str = "answer from {name}") -> None:
        self.name = name
        self.model = f"{name}-model"
        self.script = list(script) or ["ok"]
        self.calls = 0
        self.text = text.replace("{name}", name)
        self.gate: asyncio.Event | None = None  # when set, "ok" waits for it before the first token
        self.requests: list[tuple[list[ChatMessage], GenOptions]] = []  # what each call was asked

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        mode = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        self.requests.append((list(messages), opts))
        if mode == "refuse":
            raise ProviderUnavailable(f"{self.name}: connection refused")
        if mode == "busy":
            raise ProviderBusy(f"{self.name}: queue full", 2.5)
        if mode == "toolong":
            raise RequestRejected(f"{self.name}: prompt exceeds the context window", "context_length_exceeded")
        if mode == "hang":
            await asyncio.sleep(3600)
        if self.gate is not None:
            await self.gate.wait()
        words = self.text.split(" ")
        for i, word in enumerate(words):
            if mode == "break" and i == 2:
                raise StreamInterrupted(f"{self.name}: connection reset", " ".join(words[:2]))
            if mode == "slow":
                await asyncio.sleep(0.05)
            yield Delta(word if i == 0 else " " + word)
        yield Usage(self.name, self.model, prompt_tokens=10, completion_tokens=len(words), ttft_ms=1, total_ms=2)

    async def health(self) -> tuple[bool, str]:
        return True, "scripted"

    async def aclose(self) -> None:
        return None


Reply = str | ToolCall | Usage


class Answering:
    """Answers each call with what ``reply(messages, opts)`` returns: text pieces, whole tool calls (streamed as
    their name, then their arguments in two pieces, as the OpenAI wire does) and optionally a last ``Usage``.
    Records every request, so a test can assert what the gateway asked for."""

    def __init__(self, name: str, reply: Callable[[list[ChatMessage], GenOptions], list[Reply]]) -> None:
        self.name = name
        self.model = f"{name}-model"
        self.reply = reply
        self.requests: list[tuple[list[ChatMessage], GenOptions]] = []

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        self.requests.append((list(messages), opts))
        calls = 0
        usage: Usage | None = None
        for item in self.reply(messages, opts):
            if isinstance(item, str):
                yield Delta(item)
            elif isinstance(item, ToolCall):
                half = len(item.arguments) // 2
                yield ToolCallDelta(calls, item.id, item.name, "")
                yield ToolCallDelta(calls, arguments=item.arguments[:half])
                yield ToolCallDelta(calls, arguments=item.arguments[half:])
                calls += 1
            else:
                usage = item
        yield usage or Usage(self.name, self.model, 10, 5, 1, 2, finish_reason="tool_calls" if calls else "stop")

    async def health(self) -> tuple[bool, str]:
        return True, "answering"

    async def aclose(self) -> None:
        return None
