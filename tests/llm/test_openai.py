"""The OpenAI provider against a real OpenAI-compatible server (`python -m llama_cpp.server` on loopback), and
its wire format against a local HTTP server that asserts the exact request JSON and replays OpenAI's answers:
success, json_schema and its json_object fallback, 429 with Retry-After, 5xx, and streams cut mid-way."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from jindan.llm.base import (
    ChatMessage,
    Delta,
    GenOptions,
    ProviderBusy,
    ProviderUnavailable,
    StreamInterrupted,
    Usage,
    collect,
)
from jindan.llm.openai import OpenAIProvider


def test_streams_from_a_real_llama_cpp_server(llama_server: str) -> None:
    p = OpenAIProvider("smollm2", base_url=llama_server)

    async def run() -> tuple[list[object], tuple[bool, str]]:
        events = [e async for e in p.stream([ChatMessage("user", "What is 2+2?")], GenOptions(max_tokens=20))]
        return events, await p.health()

    events, (ok, detail) = asyncio.run(run())
    assert sum(isinstance(e, Delta) for e in events) >= 2
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.completion_tokens > 0 and usage.ttft_ms > 0
    assert ok, detail


def test_json_schema_through_the_server(llama_server: str) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    p = OpenAIProvider("smollm2", base_url=llama_server)
    text, _ = asyncio.run(
        collect(p.stream([ChatMessage("user", "2+2? JSON.")], GenOptions(max_tokens=30, json_schema=schema)))
    )
    assert isinstance(json.loads(text)["answer"], int)
    assert p.json_mode == "json_object"  # llama.cpp's server refused json_schema; the provider adapted once


def test_connection_refused_is_unavailable_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAIProvider("gpt-3.5-turbo", base_url=f"http://127.0.0.1:{port}/v1", connect_timeout_s=0.5)
    with pytest.raises(ProviderUnavailable, match="Connect"):
        asyncio.run(collect(p.stream([ChatMessage("user", "hi")], GenOptions())))


def test_no_key_no_url_is_actionable() -> None:
    with pytest.raises(ProviderUnavailable, match="JINDAN_OPENAI__API_KEY"):
        OpenAIProvider("gpt-4o")


# the wire, against a local HTTP server replaying OpenAI's responses ----------------------------------------

MESSAGES = [ChatMessage("system", "짧게 답하세요."), ChatMessage("user", "2+2는?")]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
PATH = "/v1/chat/completions"


def chunk(content: str | None = None, finish: str | None = None, *, usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1764150000,
        "model": "gpt-4o-mini",
        "choices": []
        if usage
        else [{"index": 0, "delta": {} if content is None else {"content": content}, "finish_reason": finish}],
    }
    if usage:
        body["usage"] = {**usage, "total_tokens": sum(usage.values())}
    return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"


def sse(*pieces: str, finish: str | None = "stop", usage: bool = True, done: bool = True) -> str:
    body = chunk("") + "".join(chunk(p) for p in pieces)
    if finish:
        body += chunk(finish=finish)
    if usage:
        body += chunk(usage={"prompt_tokens": 12, "completion_tokens": len(pieces)})
    return body + ("data: [DONE]\n\n" if done else "")


def expected(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "짧게 답하세요."}, {"role": "user", "content": "2+2는?"}],
        "temperature": 0.2,
        "max_tokens": 40,
        "stream": True,
        "stream_options": {"include_usage": True},
        **extra,
    }


def wire(server: HTTPServer) -> OpenAIProvider:
    return OpenAIProvider("gpt-4o-mini", api_key="sk-test", base_url=server.url_for("/v1"), timeout_s=5)


def drain(p: OpenAIProvider, opts: GenOptions) -> list[Any]:
    async def go() -> list[Any]:
        return [e async for e in p.stream(MESSAGES, opts)]

    return asyncio.run(go())


def test_request_json_and_stream(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        PATH,
        method="POST",
        json=expected(temperature=0.3, stop=["\n\n", "###"], seed=7),
        headers={"Authorization": "Bearer sk-test"},
    ).respond_with_data(sse("2+2는 ", "4", "입니다."), content_type="text/event-stream")
    events = drain(wire(httpserver), GenOptions(temperature=0.3, max_tokens=40, stop=("\n\n", "###"), seed=7))
    assert [e.text for e in events if isinstance(e, Delta)] == ["2+2는 ", "4", "입니다."]
    usage = events[-1]
    assert isinstance(usage, Usage) and sum(isinstance(e, Usage) for e in events) == 1
    assert (usage.prompt_tokens, usage.completion_tokens, usage.finish_reason) == (12, 3, "stop")
    assert "tokens_estimated" not in usage.extra and len(httpserver.log) == 1


def test_no_usage_from_the_server_is_estimated_and_said(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, json=expected()).respond_with_data(sse("four", usage=False))
    usage = drain(wire(httpserver), GenOptions(max_tokens=40))[-1]
    assert usage.extra["tokens_estimated"] is True and usage.prompt_tokens > 0 and usage.completion_tokens == 1


def test_json_schema_goes_in_response_format(httpserver: HTTPServer) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": False}}
    httpserver.expect_request(PATH, json=expected(temperature=0.0, response_format=fmt)).respond_with_data(
        sse('{"answer": ', "4}")
    )
    p = wire(httpserver)
    text, _ = asyncio.run(collect(p.stream(MESSAGES, GenOptions(temperature=0.0, max_tokens=40, json_schema=SCHEMA))))
    assert json.loads(text) == {"answer": 4} and p.json_mode == "json_schema"


def test_a_server_refusing_json_schema_gets_json_object_from_then_on(httpserver: HTTPServer) -> None:
    schema_fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": False}}
    object_fmt = {"type": "json_object", "schema": SCHEMA}
    refusal = {
        "error": {
            "message": "response_format.type: 'json_schema' is not supported; use 'json_object'",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": None,
        }
    }
    httpserver.expect_ordered_request(PATH, json=expected(response_format=schema_fmt)).respond_with_json(
        refusal, status=400
    )
    for _ in range(2):
        httpserver.expect_ordered_request(PATH, json=expected(response_format=object_fmt)).respond_with_data(
            sse('{"answer": 4}')
        )
    p = wire(httpserver)
    for _ in range(2):  # the second request goes straight to json_object
        text, _ = asyncio.run(collect(p.stream(MESSAGES, GenOptions(max_tokens=40, json_schema=SCHEMA))))
        assert json.loads(text) == {"answer": 4}
    assert p.json_mode == "json_object" and len(httpserver.log) == 3
    httpserver.check_assertions()


def test_a_400_that_is_not_about_json_schema_is_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"error": {"message": "max_tokens is too large", "type": "invalid_request_error", "param": "max_tokens"}},
        status=400,
    )
    with pytest.raises(ProviderUnavailable, match="max_tokens is too large"):
        drain(wire(httpserver), GenOptions(max_tokens=40, json_schema=SCHEMA))
    assert len(httpserver.log) == 1 and wire(httpserver).json_mode == "json_schema"


RATE_LIMITED = {
    "error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests", "code": "rate_limit_exceeded"}
}


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (429, {"retry-after-ms": "1500", "Retry-After": "2"}, 1.5),
        (429, {"Retry-After": "DATE+30"}, 30.0),
        (503, {"Retry-After": "3"}, 3.0),  # overloaded, saying when to come back
    ],
)
def test_429_or_503_with_retry_after_is_busy_for_that_long(
    httpserver: HTTPServer, status: int, headers: dict[str, str], wait: float
) -> None:
    if headers.get("Retry-After") == "DATE+30":
        headers = {"Retry-After": email.utils.formatdate(time.time() + 30, usegmt=True)}
    httpserver.expect_request(PATH).respond_with_json(RATE_LIMITED, status=status, headers=headers)
    with pytest.raises(ProviderBusy, match=str(status)) as info:
        drain(wire(httpserver), GenOptions(max_tokens=40))
    assert info.value.retry_after_s == pytest.approx(wait, abs=1.5)
    assert len(httpserver.log) == 1  # the SDK does not retry behind the router's back


def test_429_without_retry_after_and_5xx_are_unavailable(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(RATE_LIMITED, status=429)
    httpserver.expect_ordered_request(PATH).respond_with_json(RATE_LIMITED, status=429, headers={"Retry-After": "soon"})
    httpserver.expect_ordered_request(PATH).respond_with_json({"error": {"message": "overloaded"}}, status=503)
    httpserver.expect_ordered_request(PATH).respond_with_data("upstream crashed", status=500)
    httpserver.expect_ordered_request(PATH).respond_with_data("bad gateway", status=502, headers={"Retry-After": "5"})
    for status in ("429", "429", "503", "500", "502"):
        with pytest.raises(ProviderUnavailable, match=status) as info:
            drain(wire(httpserver), GenOptions(max_tokens=40))
        assert not isinstance(info.value, ProviderBusy)
    assert len(httpserver.log) == 5


def test_a_stream_cut_mid_way_keeps_the_partial_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(sse("2+2는 ", "4", finish=None, usage=False, done=False))
    with pytest.raises(StreamInterrupted, match="without a finish reason") as info:
        drain(wire(httpserver), GenOptions(max_tokens=40))
    assert info.value.partial == "2+2는 4"


def test_a_stream_cut_before_any_text_is_unavailable(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(chunk(""))  # the role chunk, then the connection ends
    with pytest.raises(ProviderUnavailable, match="without a finish reason") as info:
        drain(wire(httpserver), GenOptions(max_tokens=40))
    assert not isinstance(info.value, StreamInterrupted)


def test_a_broken_chunk_mid_stream_keeps_the_partial_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(
        chunk("") + chunk("부분 ") + 'data: {"id": "chatcmpl-1", "cho\n\n'
    )
    with pytest.raises(StreamInterrupted) as info:
        drain(wire(httpserver), GenOptions(max_tokens=40))
    assert info.value.partial == "부분 "


def test_length_is_a_finish_reason_not_a_cut(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(sse("a", "b", finish="length"))
    usage = drain(wire(httpserver), GenOptions(max_tokens=40))[-1]
    assert isinstance(usage, Usage) and usage.finish_reason == "length"


def test_prompt_tokens_served_from_the_server_prefix_cache_are_reported(httpserver: HTTPServer) -> None:
    """vLLM (--enable-prompt-tokens-details) and OpenAI say how much of the prompt their prefix cache served."""
    cached = chunk(usage={"prompt_tokens": 120, "completion_tokens": 1}).replace(
        '"total_tokens"', '"prompt_tokens_details": {"cached_tokens": 96}, "total_tokens"'
    )
    httpserver.expect_request(PATH).respond_with_data(chunk("4") + chunk(finish="stop") + cached + "data: [DONE]\n\n")
    usage = drain(wire(httpserver), GenOptions(max_tokens=40))[-1]
    assert isinstance(usage, Usage) and usage.prompt_tokens == 120 and usage.extra["cached_tokens"] == 96
    httpserver.clear()
    httpserver.expect_request(PATH).respond_with_data(sse("4"))
    assert "cached_tokens" not in drain(wire(httpserver), GenOptions(max_tokens=40))[-1].extra


def test_the_router_honours_retry_after_and_falls_back_meanwhile(httpserver: HTTPServer) -> None:
    """A 429 with Retry-After: the local model answers, the API is not called again until the time has passed,
    nothing counts against its circuit breaker, and with no fallback the caller is told how long to wait."""
    from jindan.llm.router import AllProvidersFailed, Router, Started
    from jindan.settings import Settings
    from tests.llm.fakes import Scripted

    httpserver.expect_ordered_request(PATH).respond_with_json(RATE_LIMITED, status=429, headers={"Retry-After": "1"})
    httpserver.expect_ordered_request(PATH).respond_with_data(sse("back"))
    api, local = wire(httpserver), Scripted("llamacpp")
    settings = Settings(llm={"routes": {"hint": ["openai", "llamacpp"], "chat": ["openai"]}, "retries": 1})  # type: ignore[arg-type]
    router = Router(settings, {"openai": api, "llamacpp": local}, backoff_s=0.01)  # type: ignore[dict-item]

    async def answer(route: str) -> list[Any]:
        return [e async for e in router.stream(route, MESSAGES, GenOptions(max_tokens=40))]

    first = asyncio.run(answer("hint"))
    assert first[0] == Started("llamacpp", "llamacpp-model") and len(httpserver.log) == 1  # not retried at once
    second = asyncio.run(answer("hint"))
    assert second[0] == Started("llamacpp", "llamacpp-model") and len(httpserver.log) == 1  # skipped meanwhile
    with pytest.raises(AllProvidersFailed, match="rate limited") as info:
        asyncio.run(answer("chat"))
    assert info.value.retry_after_s is not None and 0 < info.value.retry_after_s <= 1.0
    assert router.breakers["openai"].failures == 0 and len(httpserver.log) == 1
    time.sleep(1.05)
    third = asyncio.run(answer("hint"))
    assert third[0] == Started("openai", "gpt-4o-mini") and len(httpserver.log) == 2
