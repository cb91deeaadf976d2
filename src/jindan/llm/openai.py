"""OpenAI and every OpenAI-compatible server (vLLM, llama.cpp server, Ollama's /v1) via the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from jindan.llm import tool_wire
from jindan.llm.base import (
    ChatMessage,
    Delta,
    Event,
    GenOptions,
    ProviderUnavailable,
    RateLimited,
    Stopwatch,
    StreamInterrupted,
    ToolCallDelta,
    cut_stream,
    require,
)
from jindan.retry import retry_after
from jindan.settings import Settings


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 3.0,
    ) -> None:
        openai = require("openai", "openai")
        if not api_key and not base_url:
            raise ProviderUnavailable("OpenAI needs an API key: set JINDAN_OPENAI__API_KEY (or a base_url)")
        self.model = model
        self.base_url = base_url
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed",  # local OpenAI-compatible servers ignore it
            base_url=base_url,
            timeout=openai.Timeout(timeout_s, connect=connect_timeout_s),  # the SDK's own HTTP library
            max_retries=0,  # the router owns retries, so timeouts never stack
        )
        self._errors = openai
        # OpenAI and vLLM take response_format json_schema; llama.cpp's server only json_object + schema.
        # Start with the standard and switch once if the server refuses it.
        self.json_mode = "json_schema"

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIProvider:
        o, llm = settings.openai, settings.llm
        key = o.api_key.get_secret_value() if o.api_key else None
        model = llm.model if llm.provider == "openai" else o.model
        return cls(
            model,
            api_key=key,
            base_url=o.base_url,
            timeout_s=settings.timeouts("openai")[1],
            connect_timeout_s=settings.timeouts("openai")[0],
        )

    def request(self, messages: list[ChatMessage], opts: GenOptions) -> dict[str, Any]:
        req: dict[str, Any] = {
            "model": self.model,
            "messages": [tool_wire.openai_message(m) for m in messages],
            "temperature": opts.temperature,
            "max_tokens": opts.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if opts.stop:
            req["stop"] = list(opts.stop)
        if opts.seed is not None:
            req["seed"] = opts.seed
        req.update(tool_wire.openai_tools(opts))
        if opts.json_schema is not None and self.json_mode == "json_schema":
            req["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": opts.json_schema, "strict": False},
            }
        elif opts.json_schema is not None:
            req["response_format"] = {"type": "json_object", "schema": opts.json_schema}
        return req

    async def _open(self, messages: list[ChatMessage], opts: GenOptions) -> Any:
        try:
            return await self.client.chat.completions.create(**self.request(messages, opts))
        except self._errors.APIStatusError as exc:
            refused = "response_format" in str(exc) and self.json_mode == "json_schema"
            if opts.json_schema is None or not refused:
                raise
            self.json_mode = "json_object"
            return await self.client.chat.completions.create(**self.request(messages, opts))

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        watch = Stopwatch()
        parts: list[str] = []
        prompt_tokens = completion_tokens = cached = 0
        finish: str | None = None
        called = False
        where = self.base_url or "api.openai.com"
        try:
            stream = await self._open(messages, opts)
            async for chunk in stream:
                if chunk.usage is not None:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                    details = getattr(chunk.usage, "prompt_tokens_details", None)  # vLLM, OpenAI: prefix cache
                    cached = int(getattr(details, "cached_tokens", None) or 0)
                if chunk.choices:
                    finish = chunk.choices[0].finish_reason or finish
                    for call in chunk.choices[0].delta.tool_calls or []:
                        watch.token()
                        called = True
                        name, args = (call.function.name, call.function.arguments) if call.function else (None, "")
                        yield ToolCallDelta(call.index, call.id, name, args or "")
                    piece = chunk.choices[0].delta.content
                    if piece:
                        watch.token()
                        parts.append(piece)
                        yield Delta(piece)
        except Exception as exc:
            if parts or called:
                raise StreamInterrupted(f"OpenAI-compatible {where} failed mid-stream: {exc}", "".join(parts)) from exc
            response = getattr(exc, "response", None)
            wait = retry_after(response.status_code, response.headers) if response is not None else None
            if wait is not None:  # rate limited or overloaded: not broken, asked to come back later
                raise RateLimited(f"OpenAI-compatible {where}: {exc}; retry after {wait:.1f} s", wait) from exc
            status = f" {response.status_code}" if response is not None else ""  # not every SDK version says it
            raise ProviderUnavailable(f"OpenAI-compatible {where}: {type(exc).__name__}{status}: {exc}") from exc
        if finish is None:
            raise cut_stream(f"OpenAI-compatible {where}", parts or ([""] if called else []))
        if called and finish == "stop":  # some servers end tool calls with "stop"
            finish = "tool_calls"
        usage = watch.usage(self.name, self.model, prompt_tokens, completion_tokens or len(parts), finish)
        if not prompt_tokens:  # some compatible servers ignore stream_options.include_usage
            usage.prompt_tokens = max(1, sum(len(m.content) for m in messages) // 4)
            usage.extra["tokens_estimated"] = True
        if cached:
            usage.extra["cached_tokens"] = cached
        yield usage

    async def health(self) -> tuple[bool, str]:
        try:
            await self.client.models.list()
        except Exception as exc:
            return False, f"{self.base_url or 'api.openai.com'}: {type(exc).__name__}"
        return True, f"{self.base_url or 'api.openai.com'} answers"

    async def aclose(self) -> None:
        await self.client.close()
