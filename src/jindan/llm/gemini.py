"""Google Gemini through the official ``google-genai`` SDK (kept for the transition and for rollback)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

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
    cut_stream,
    require,
)
from jindan.llm.tools import new_id
from jindan.settings import Settings

FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}  # Gemini's finishReason -> the OpenAI-style reason


class GeminiProvider:
    name = "gemini"

    def __init__(
        self, model: str, *, api_key: str | None, base_url: str | None = None, timeout_s: float = 60.0
    ) -> None:
        genai = require("google.genai", "gemini")
        self.types = require("google.genai.types", "gemini")
        if not api_key:
            raise ProviderUnavailable("Gemini needs an API key: set JINDAN_GEMINI__API_KEY")
        self.model = model
        options = self.types.HttpOptions(
            base_url=base_url,
            timeout=int(timeout_s * 1000),
            retry_options=self.types.HttpRetryOptions(attempts=1),  # the router owns retries
        )
        self.client = genai.Client(api_key=api_key, http_options=options)

    @classmethod
    def from_settings(cls, settings: Settings) -> GeminiProvider:
        g = settings.gemini
        model = settings.llm.model if settings.llm.provider == "gemini" else g.model
        key = g.api_key.get_secret_value() if g.api_key else None
        return cls(model, api_key=key, base_url=g.base_url, timeout_s=settings.timeouts("gemini")[1])

    def request(self, messages: list[ChatMessage], opts: GenOptions) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in messages if m.role == "system") or None
        contents = tool_wire.gemini_contents(messages)
        config: dict[str, Any] = {
            "system_instruction": system,
            "temperature": opts.temperature,
            "max_output_tokens": opts.max_tokens,
        }
        if opts.stop:
            config["stop_sequences"] = list(opts.stop)
        if opts.seed is not None:
            config["seed"] = opts.seed
        if opts.json_schema is not None:
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = opts.json_schema
        config.update(tool_wire.gemini_tools(opts))
        return {
            "model": self.model,
            "contents": contents,
            "config": self.types.GenerateContentConfig(**config),
        }

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        watch = Stopwatch()
        parts: list[str] = []
        prompt_tokens = completion_tokens = 0
        finish: str | None = None
        calls = 0
        try:
            stream = await self.client.aio.models.generate_content_stream(**self.request(messages, opts))
            async for chunk in stream:
                meta = chunk.usage_metadata
                if meta is not None:
                    prompt_tokens = meta.prompt_token_count or prompt_tokens
                    completion_tokens = meta.candidates_token_count or completion_tokens
                reason = chunk.candidates[0].finish_reason if chunk.candidates else None
                if reason:
                    finish = FINISH.get(str(getattr(reason, "value", reason)), "other")
                content = chunk.candidates[0].content if chunk.candidates else None
                for part in (content.parts or []) if content else []:
                    if part.function_call is not None:
                        watch.token()
                        fc = part.function_call
                        args = json.dumps(fc.args or {}, ensure_ascii=False)
                        yield ToolCallDelta(calls, fc.id or new_id(), fc.name or "", "")
                        yield ToolCallDelta(calls, arguments=args)
                        calls += 1
                    elif part.text and not part.thought:
                        watch.token()
                        parts.append(part.text)
                        yield Delta(part.text)
        except Exception as exc:
            if parts or calls:
                raise StreamInterrupted(f"Gemini failed mid-stream: {exc}", "".join(parts)) from exc
            raise ProviderUnavailable(f"Gemini: {type(exc).__name__}: {exc}") from exc
        if finish is None:
            raise cut_stream("Gemini", parts or ([""] if calls else []))
        if calls and finish == "stop":
            finish = "tool_calls"
        yield watch.usage(self.name, self.model, prompt_tokens, completion_tokens or len(parts), finish)

    async def health(self) -> tuple[bool, str]:
        return True, f"Gemini {self.model} (API key set)"

    async def aclose(self) -> None:
        await self.client.aio.aclose()
