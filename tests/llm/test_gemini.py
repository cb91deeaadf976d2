"""The Gemini provider against a local server replaying Gemini's SSE stream and asserting the request JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from jindan.llm.base import (
    ChatMessage,
    Delta,
    GenOptions,
    ProviderUnavailable,
    StreamInterrupted,
    Usage,
    collect,
)
from jindan.llm.gemini import GeminiProvider

PATH = "/v1/models/gemini-1.5-flash:streamGenerateContent"


def sse(pieces: list[str], *, cut: bool = False) -> str:
    chunks: list[dict[str, Any]] = []
    for i, text in enumerate(pieces):
        last = i == len(pieces) - 1 and not cut
        chunk: dict[str, Any] = {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": "gemini-1.5-flash",
        }
        if last:
            chunk["candidates"][0]["finishReason"] = "STOP"
            chunk["usageMetadata"] = {"promptTokenCount": 9, "candidatesTokenCount": 5, "totalTokenCount": 14}
        chunks.append(chunk)
    body = "".join("data: " + json.dumps(c, ensure_ascii=False) + "\r\n\r\n" for c in chunks)
    return body + ("data: {broken" if cut else "")


def provider(server: HTTPServer) -> GeminiProvider:
    return GeminiProvider("gemini-1.5-flash", api_key="g-test-key", base_url=server.url_for("/"), timeout_s=5)


def test_request_json_and_stream(httpserver: HTTPServer) -> None:
    expected = {
        "contents": [
            {"parts": [{"text": "2+2는?"}], "role": "user"},
            {"parts": [{"text": "4"}], "role": "model"},
            {"parts": [{"text": "왜?"}], "role": "user"},
        ],
        "systemInstruction": {"parts": [{"text": "짧게 답하세요."}], "role": "user"},
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 40},
    }
    httpserver.expect_request(
        PATH, method="POST", query_string="alt=sse", json=expected, headers={"x-goog-api-key": "g-test-key"}
    ).respond_with_data(sse(["2와 2를 ", "더하면 4입니다."]), content_type="text/event-stream")
    msgs = [
        ChatMessage("system", "짧게 답하세요."),
        ChatMessage("user", "2+2는?"),
        ChatMessage("assistant", "4"),
        ChatMessage("user", "왜?"),
    ]
    events = asyncio.run(_events(provider(httpserver), msgs, GenOptions(max_tokens=40)))
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "2와 2를 더하면 4입니다."
    usage = events[-1]
    assert isinstance(usage, Usage) and (usage.prompt_tokens, usage.completion_tokens) == (9, 5)


def test_json_schema_sets_mime_type_and_schema(httpserver: HTTPServer) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    expected = {
        "contents": [{"parts": [{"text": "2+2?"}], "role": "user"}],
        "generationConfig": {
            "temperature": 0.0,
            "maxOutputTokens": 16,
            "responseMimeType": "application/json",
            "responseJsonSchema": schema,
        },
    }
    httpserver.expect_request(PATH, json=expected).respond_with_data(sse(['{"answer": 4}']))
    text, _ = asyncio.run(
        collect(
            provider(httpserver).stream(
                [ChatMessage("user", "2+2?")], GenOptions(temperature=0.0, max_tokens=16, json_schema=schema)
            )
        )
    )
    assert json.loads(text) == {"answer": 4}


def test_http_error_before_first_token_is_unavailable(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED"}},
        status=429,
    )
    with pytest.raises(ProviderUnavailable, match="429"):
        asyncio.run(collect(provider(httpserver).stream([ChatMessage("user", "hi")], GenOptions())))
    assert len(httpserver.log) == 1  # the SDK does not retry behind the router's back


def test_broken_stream_keeps_partial(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(sse(["부분 답"], cut=True))
    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(collect(provider(httpserver).stream([ChatMessage("user", "hi")], GenOptions())))
    assert info.value.partial == "부분 답"


def test_missing_key_is_actionable() -> None:
    with pytest.raises(ProviderUnavailable, match="JINDAN_GEMINI__API_KEY"):
        GeminiProvider("gemini-1.5-flash", api_key=None)


async def _events(p: GeminiProvider, msgs: list[ChatMessage], opts: GenOptions) -> list[Any]:
    return [e async for e in p.stream(msgs, opts)]
