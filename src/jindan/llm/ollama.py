"""Ollama on its native API (``/api/chat``), through the official ``ollama`` client.

Every request carries ``num_ctx`` from the model profile (Ollama silently truncates prompts at its small default
otherwise), ``keep_alive`` and, for structured output, ``format`` (a JSON schema). Timings come from Ollama's
own counters (load, prompt eval, eval). Several hosts scale out through ``HostPool``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from jindan.llm import tool_wire
from jindan.llm.base import (
    ChatMessage,
    Delta,
    Event,
    GenOptions,
    ProviderUnavailable,
    Stopwatch,
    StreamInterrupted,
    ToolCallDelta,
    Usage,
    require,
)
from jindan.llm.catalog import context_length
from jindan.llm.hosts import HostPool, HostState, Policy, routing_key
from jindan.llm.tools import call_schema, new_id, spec
from jindan.settings import Settings

NS = 1e-9 * 1000  # Ollama reports nanoseconds; we report milliseconds


class OllamaProvider:
    name = "ollama"

    def __init__(
        self,
        hosts: list[str],
        model: str,
        *,
        num_ctx: int | None = None,
        keep_alive: str = "30m",
        timeout_s: float = 60.0,
        connect_timeout_s: float = 3.0,
        routing: Policy = "prefix",
        spill_inflight: int = 2,
    ) -> None:
        self.ollama = require("ollama", "ollama")
        self.model = model
        self.num_ctx = num_ctx or context_length(model)
        self.keep_alive = keep_alive
        self.pool = HostPool(hosts, policy=routing, spill_inflight=spill_inflight)
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._clients: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> OllamaProvider:
        o, llm = settings.ollama, settings.llm
        model = llm.model if llm.provider == "ollama" else "llama3.1:8b"
        return cls(
            o.hosts,
            model,
            num_ctx=o.num_ctx,
            keep_alive=o.keep_alive,
            timeout_s=settings.timeouts("ollama")[1],
            connect_timeout_s=settings.timeouts("ollama")[0],
            routing=o.routing,
            spill_inflight=o.spill_inflight,
        )

    def client(self, host: HostState) -> Any:
        if host.url not in self._clients:
            self._clients[host.url] = self.ollama.AsyncClient(host=host.url, timeout=self._timeout)
        return self._clients[host.url]

    def request(self, messages: list[ChatMessage], opts: GenOptions) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_ctx": self.num_ctx,
            "temperature": opts.temperature,
            "num_predict": opts.max_tokens,
        }
        if opts.stop:
            options["stop"] = list(opts.stop)
        if opts.seed is not None:
            options["seed"] = opts.seed
        tools = opts.callable_tools()
        forced = opts.tool_choice == "required" and bool(tools)  # Ollama has no tool_choice: a format does it
        return {
            "model": self.model,
            "messages": [tool_wire.ollama_message(m) for m in messages],
            "tools": [spec(t) for t in tools],
            "stream": True,
            "format": call_schema(tools) if forced else opts.json_schema,
            "options": options,
            "keep_alive": self.keep_alive,
        }

    async def _open(self, host: HostState, req: dict[str, Any]) -> Any:
        """POST /api/chat. Tools go out as given: ollama-python's ``Tool`` model keeps only the top level of a
        parameters schema (nested objects, ``anyOf``, bounds are dropped), so the body is built here."""
        client = self.client(host)
        if not req["tools"]:
            return await client.chat(**req)
        body = self.ollama._types.ChatRequest(**{**req, "tools": None}).model_dump(exclude_none=True)
        body["tools"] = req["tools"]
        return await client._request(self.ollama.ChatResponse, "POST", "/api/chat", json=body, stream=True)

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        errors: list[str] = []
        req = self.request(messages, opts)
        forced = bool(req["tools"]) and opts.tool_choice == "required"
        for host in self.pool.order(routing_key(messages)):  # a question's prompts meet its cached prefix
            with self.pool.lease(host):
                watch = Stopwatch()
                parts: list[str] = []
                calls = 0
                try:
                    stream = await self._open(host, req)
                    async for chunk in stream:
                        message = chunk.message
                        piece = message.content if message else ""
                        for call in (message.tool_calls or []) if message else []:
                            watch.token()
                            args = json.dumps(dict(call.function.arguments or {}), ensure_ascii=False)
                            yield ToolCallDelta(calls, new_id(), call.function.name, "")
                            yield ToolCallDelta(calls, arguments=args)
                            calls += 1
                        if piece:
                            watch.token()
                            parts.append(piece)
                            if not forced:  # a forced call arrives as JSON text: turned into a call at the end
                                yield Delta(piece)
                        if chunk.done:
                            self.pool.succeeded(host)
                            if forced and not calls:
                                found = forced_call("".join(parts))
                                calls = len(found) // 2
                                for event in found:
                                    yield event
                            yield self._usage(chunk, watch, called=calls > 0)
                            return
                except Exception as exc:
                    if parts or calls:
                        self.pool.failed(host)
                        raise StreamInterrupted(f"Ollama {host.url} failed mid-stream: {exc}", "".join(parts)) from exc
                    if self._is_model_error(exc):
                        raise ProviderUnavailable(
                            f"Ollama {host.url}: {exc}. Pull the model first: ollama pull {self.model}"
                        ) from exc
                    self.pool.failed(host)
                    errors.append(f"{host.url}: {type(exc).__name__}: {exc}")
                    continue
                raise StreamInterrupted(f"Ollama {host.url} closed the stream without done", "".join(parts))
        raise ProviderUnavailable("no Ollama host answered: " + "; ".join(errors))

    def _is_model_error(self, exc: Exception) -> bool:
        return isinstance(exc, self.ollama.ResponseError) and getattr(exc, "status_code", 0) == 404

    def _usage(self, chunk: Any, watch: Stopwatch, called: bool = False) -> Usage:
        usage = watch.usage(self.name, self.model, chunk.prompt_eval_count or 0, chunk.eval_count or 0)
        if chunk.eval_count and chunk.eval_duration:
            usage.decode_tokens_per_s = chunk.eval_count / (chunk.eval_duration * 1e-9)
        usage.load_ms = (chunk.load_duration or 0) * NS
        usage.finish_reason = getattr(chunk, "done_reason", None) or "stop"
        if called and usage.finish_reason == "stop":
            usage.finish_reason = "tool_calls"
        usage.extra = {
            "prompt_eval_ms": (chunk.prompt_eval_duration or 0) * NS,
            "eval_ms": (chunk.eval_duration or 0) * NS,
            "server_total_ms": (chunk.total_duration or 0) * NS,
        }
        return usage

    async def health(self) -> tuple[bool, str]:
        states = []
        for host in self.pool.hosts:
            try:
                await self.client(host).ps()
                states.append(f"{host.url} up")
            except Exception as exc:
                states.append(f"{host.url} down ({type(exc).__name__})")
        up = sum(s.endswith(" up") for s in states)
        return up > 0, f"{up}/{len(states)} hosts up: " + "; ".join(states)

    # model management --------------------------------------------------------------------------------
    async def list_models(self) -> dict[str, list[str]]:
        return {h.url: [m.model for m in (await self.client(h).list()).models] for h in self.pool.hosts}

    async def running(self) -> dict[str, list[str]]:
        return {h.url: [m.model for m in (await self.client(h).ps()).models] for h in self.pool.hosts}

    async def preload(self) -> None:
        """Load the model on every host now (an empty chat), so the first user request skips the load."""
        for host in self.pool.hosts:
            await self.client(host).chat(model=self.model, messages=[], keep_alive=self.keep_alive)

    def pull(self, model: str | None = None) -> Iterator[tuple[str, str, int, int]]:
        """Pull on every host; yields (host, status, completed, total) for a progress bar."""
        for host in self.pool.hosts:
            client = self.ollama.Client(host=host.url)
            for p in client.pull(model or self.model, stream=True):
                yield host.url, p.status or "", p.completed or 0, p.total or 0

    async def aclose(self) -> None:
        self._clients.clear()


def forced_call(text: str) -> list[ToolCallDelta]:
    """The call a forced answer wrote as ``{"name": ..., "arguments": {...}}`` (none when it was cut)."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return []
    args = value.get("arguments") if isinstance(value.get("arguments"), dict) else {}
    arguments = json.dumps(args, ensure_ascii=False)
    return [ToolCallDelta(0, new_id(), value["name"], ""), ToolCallDelta(0, arguments=arguments)]
