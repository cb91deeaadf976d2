"""The one LLM provider interface: streaming first, usage and timings at the end of every stream.

A provider yields ``Delta`` text pieces (and ``ToolCallDelta`` pieces when it was given tools and calls them)
and finishes with exactly one ``Usage`` (``finish_reason`` "tool_calls" when it called). Errors before the first
delta raise ``ProviderUnavailable`` (safe to fall back to another provider); errors after it raise
``StreamInterrupted`` carrying the partial text, because the client has already seen it. A stream that ends
without the backend saying why it finished (``finish_reason`` / ``done``) was cut, and is one of those errors:
never a short or empty answer that looks complete.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = Literal["auto", "none", "required"]


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name, what it does, and its arguments as a JSON Schema object."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """A call the model made: ``arguments`` is the JSON text of an object; ``id`` pairs it with its result."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ChatMessage:
    """One chat turn. ``stable_chars`` is a cache hint: the first ``stable_chars`` characters of this message,
    and every message before it, are the same for every request that shares them (a question's instructions,
    context and target, before the student's text). Providers with a prefix cache keep their state there;
    the others ignore it, and a backend's own prefix cache (Ollama, vLLM) hits because the text is stable."""

    role: Role
    content: str
    stable_chars: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # assistant: the calls it made (content may be empty then)
    tool_call_id: str | None = None  # tool: the call this message answers
    name: str | None = None  # tool: the function that answered


@dataclass(frozen=True)
class GenOptions:
    temperature: float = 0.2
    max_tokens: int = 512
    json_schema: dict[str, Any] | None = None  # structured output where the backend supports it
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tools: tuple[Tool, ...] = ()  # functions the model may call (none: a plain answer)
    tool_choice: ToolChoice = "auto"  # auto: the model decides; required: at least one call; none: no call
    allowed: tuple[str, ...] = ()  # with required: only these tools (one name: that function is called)
    parallel_tool_calls: bool = True  # more than one call in one answer

    def callable_tools(self) -> tuple[Tool, ...]:
        """The tools the model may call in this answer (none when ``tool_choice`` is none)."""
        if self.tool_choice == "none":
            return ()
        return tuple(t for t in self.tools if not self.allowed or t.name in self.allowed)


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of the ``index``-th tool call of an answer: the first piece of a call carries its ``id`` and
    ``name``, the following ones the next text of its JSON ``arguments`` (the OpenAI stream's own shape)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass
class Usage:
    """Token counts and timings of one generation (times in milliseconds)."""

    provider: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    decode_tokens_per_s: float = 0.0
    load_ms: float | None = None  # model load time when the backend reports it (Ollama)
    finish_reason: str | None = None  # "stop" (end or a stop sequence) | "length" (max_tokens) | "tool_calls"
    extra: dict[str, Any] = field(default_factory=dict)


Event = Delta | ToolCallDelta | Usage


class ProviderError(RuntimeError):
    """Base of provider failures; the message says what to do."""


class ProviderUnavailable(ProviderError):
    """Failed before the first token (refused, timed out, misconfigured): another provider may answer."""


class StreamInterrupted(ProviderError):
    """Failed after text was streamed; ``partial`` is what the client already has."""

    def __init__(self, message: str, partial: str) -> None:
        super().__init__(message)
        self.partial = partial


def cut_stream(where: str, parts: list[str]) -> ProviderError:
    """The error for a stream that ended without a finish reason: the server dropped it (a single-slot server
    such as ``llama_cpp.server`` ends a running stream when the next request arrives)."""
    message = f"{where} ended the stream without a finish reason (cut by the server, e.g. a single-slot server)"
    if parts:
        return StreamInterrupted(message, "".join(parts))
    return ProviderUnavailable(message)


class ProviderBusy(ProviderUnavailable):
    """The provider's queue is full: refused at once, never an unbounded wait. Ask again after
    ``retry_after_s`` seconds (the HTTP layer sends it as ``Retry-After``)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(ProviderBusy):
    """A remote server refused with 429 or 503 and ``Retry-After``: the router does not call it again before
    ``retry_after_s`` has passed (its fallbacks answer meanwhile)."""


CONTEXT_EXCEEDED, INVALID_SCHEMA = "context_length_exceeded", "invalid_schema"  # RequestRejected's codes


class RequestRejected(ProviderUnavailable, ValueError):
    """The model cannot take the request as it was sent (a prompt longer than its context window, a schema its
    grammar cannot follow): the caller's to change, not the provider's failure. No retry and no breaker failure;
    another provider of the route may still take it. ``code``: the OpenAI error code (``CONTEXT_EXCEEDED``,
    ``INVALID_SCHEMA``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class MissingDependency(ProviderUnavailable):
    """The provider's SDK is not installed."""


@runtime_checkable
class LLMProvider(Protocol):
    name: str
    model: str

    def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]: ...

    async def health(self) -> tuple[bool, str]: ...

    async def aclose(self) -> None: ...


class Stopwatch:
    """Measures TTFT, total time and decode speed the same way for every provider."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None

    def token(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def usage(
        self, provider: str, model: str, prompt_tokens: int, completion_tokens: int, finish_reason: str | None = None
    ) -> Usage:
        end = time.perf_counter()
        first = self.first or end
        decode_s = end - first
        rate = (completion_tokens - 1) / decode_s if completion_tokens > 1 and decode_s > 0 else 0.0
        return Usage(
            provider=provider,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            ttft_ms=(first - self.start) * 1000,
            total_ms=(end - self.start) * 1000,
            decode_tokens_per_s=rate,
            finish_reason=finish_reason,
        )


def require(module: str, extra: str) -> Any:
    """Import an SDK lazily; a missing one becomes an error that says which extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(f"{module} is not installed: pip install 'jindan[{extra}]'") from exc


async def collect(events: AsyncIterator[Event]) -> tuple[str, Usage | None]:
    """Drain a stream into (text, usage): for callers that do not stream (narratives, shadow runs)."""
    parts: list[str] = []
    usage: Usage | None = None
    async for ev in events:
        if isinstance(ev, Delta):
            parts.append(ev.text)
        elif isinstance(ev, Usage):
            usage = ev
    return "".join(parts), usage
