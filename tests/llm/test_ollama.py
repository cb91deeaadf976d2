"""The Ollama provider against a local HTTP server that speaks Ollama's wire protocol (streamed NDJSON) and
asserts the exact request JSON, as ollama-python's own tests do."""

from __future__ import annotations

import asyncio
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
    ProviderUnavailable,
    StreamInterrupted,
    Usage,
    collect,
)
from jindan.llm.hosts import HostPool
from jindan.llm.ollama import OllamaProvider

MESSAGES = [ChatMessage("system", "한국어로 답하세요."), ChatMessage("user", "2+2는?")]


def ndjson(pieces: list[str], *, model: str = "qwen2.5:7b", error: str | None = None) -> str:
    lines = [
        {
            "model": model,
            "created_at": "2026-11-25T10:00:00Z",
            "message": {"role": "assistant", "content": p},
            "done": False,
        }
        for p in pieces
    ]
    if error:
        lines.append({"error": error})
    else:
        lines.append(
            {
                "model": model,
                "created_at": "2026-11-25T10:00:01Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 812_000_000,
                "load_duration": 210_000_000,
                "prompt_eval_count": 26,
                "prompt_eval_duration": 130_000_000,
                "eval_count": 4,
                "eval_duration": 400_000_000,
            }
        )
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def expected_request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "qwen2.5:7b",
        "messages": [
            {"role": "system", "content": "한국어로 답하세요."},
            {"role": "user", "content": "2+2는?"},
        ],
        "stream": True,
        "options": {"num_ctx": 8192, "temperature": 0.2, "num_predict": 64},
        "keep_alive": "30m",
        "tools": [],  # ollama-python always sends it
    }
    body.update(overrides)
    return body


def provider(*hosts: str, **kw: Any) -> OllamaProvider:
    return OllamaProvider(list(hosts), "qwen2.5:7b", timeout_s=5, connect_timeout_s=0.5, **kw)


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_native_chat_request_and_stream(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat", method="POST", json=expected_request()).respond_with_data(
        ndjson(["2+2는 ", "4", "입니다."]), content_type="application/x-ndjson"
    )
    events = asyncio.run(_events(provider(httpserver.url_for("")), GenOptions(max_tokens=64)))
    assert [e.text for e in events if isinstance(e, Delta)] == ["2+2는 ", "4", "입니다."]
    usage = events[-1]
    assert isinstance(usage, Usage)
    assert (usage.prompt_tokens, usage.completion_tokens) == (26, 4)
    assert usage.decode_tokens_per_s == pytest.approx(10.0)  # Ollama's own eval_count / eval_duration
    assert usage.load_ms == pytest.approx(210.0) and usage.extra["prompt_eval_ms"] == pytest.approx(130.0)


def test_json_schema_goes_in_format_and_num_ctx_follows_the_model(httpserver: HTTPServer) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    body = expected_request(model="llama3.2:3b", format=schema)
    body["options"] = {"num_ctx": 8192, "temperature": 0.0, "num_predict": 32, "seed": 7}
    httpserver.expect_request("/api/chat", json=body).respond_with_data(ndjson(['{"answer": 4}'], model="llama3.2:3b"))
    p = OllamaProvider([httpserver.url_for("")], "llama3.2:3b")
    text, _ = asyncio.run(
        collect(p.stream(MESSAGES, GenOptions(temperature=0.0, max_tokens=32, json_schema=schema, seed=7)))
    )
    assert json.loads(text) == {"answer": 4}


def test_unreachable_host_is_skipped_for_a_healthy_one(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat").respond_with_data(ndjson(["ok"]))
    dead = closed_port()
    p = provider(dead, httpserver.url_for(""), routing="load")  # the dead host first (by prefix: 50/50)
    text, usage = asyncio.run(collect(p.stream(MESSAGES, GenOptions(max_tokens=64))))
    assert text == "ok" and usage is not None
    assert p.pool.order()[0].url == httpserver.url_for("").rstrip("/")  # dead host cools down
    assert p.pool.hosts[0].failures == 1


def test_all_hosts_down_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="no Ollama host answered"):
        asyncio.run(collect(provider(closed_port(), closed_port()).stream(MESSAGES, GenOptions())))


def test_missing_model_says_to_pull(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat").respond_with_json({"error": "model 'qwen2.5:7b' not found"}, status=404)
    with pytest.raises(ProviderUnavailable, match=r"ollama pull qwen2\.5:7b"):
        asyncio.run(collect(provider(httpserver.url_for("")).stream(MESSAGES, GenOptions())))


def test_error_mid_stream_keeps_the_partial_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat").respond_with_data(ndjson(["부분 ", "답"], error="out of memory"))
    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(collect(provider(httpserver.url_for("")).stream(MESSAGES, GenOptions())))
    assert info.value.partial == "부분 답" and "out of memory" in str(info.value)


def test_model_management(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/tags").respond_with_json(
        {"models": [{"name": "qwen2.5:7b", "model": "qwen2.5:7b", "size": 4_683_087_332}]}
    )
    httpserver.expect_request("/api/ps").respond_with_json({"models": [{"name": "qwen2.5:7b", "model": "qwen2.5:7b"}]})
    httpserver.expect_request(
        "/api/chat",
        json={"model": "qwen2.5:7b", "messages": [], "stream": False, "keep_alive": "30m", "tools": []},
    ).respond_with_json(
        {
            "model": "qwen2.5:7b",
            "created_at": "2026-11-25T10:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "load",
        }
    )
    progress = "".join(
        json.dumps(x) + "\n"
        for x in [
            {"status": "pulling manifest"},
            {
                "status": "pulling 2bada8a74506",
                "digest": "sha256:2bada8a74506",
                "total": 4683073184,
                "completed": 1000,
            },
            {
                "status": "pulling 2bada8a74506",
                "digest": "sha256:2bada8a74506",
                "total": 4683073184,
                "completed": 4683073184,
            },
            {"status": "success"},
        ]
    )
    httpserver.expect_request(
        "/api/pull", json={"model": "qwen2.5:7b", "insecure": False, "stream": True}
    ).respond_with_data(progress)
    p = provider(httpserver.url_for(""))
    host = httpserver.url_for("").rstrip("/")
    assert asyncio.run(p.list_models()) == {host: ["qwen2.5:7b"]}
    assert asyncio.run(p.running()) == {host: ["qwen2.5:7b"]}
    asyncio.run(p.preload())
    steps = list(p.pull())
    assert steps[0][1] == "pulling manifest" and steps[-1][1] == "success"
    assert steps[2][2] == steps[2][3] == 4683073184
    ok, detail = asyncio.run(p.health())
    assert ok and "1/1 hosts up" in detail


def test_pool_prefers_the_least_busy_healthy_host() -> None:
    pool = HostPool(["http://a", "http://b", "http://c"], cooldown_s=60)
    a, b, c = pool.hosts
    with pool.lease(a), pool.lease(a), pool.lease(b):
        assert [h.url for h in pool.order()] == ["http://c", "http://b", "http://a"]
        pool.failed(c)
        assert [h.url for h in pool.order()] == ["http://b", "http://a", "http://c"]
    pool.succeeded(c)  # back from its cool-down: idle and used longest ago, so it is tried first again
    assert c.failures == 0 and c.healthy(time.monotonic())
    assert [h.url for h in pool.order()] == ["http://c", "http://a", "http://b"]


async def _events(p: OllamaProvider, opts: GenOptions) -> list[Any]:
    return [e async for e in p.stream(MESSAGES, opts)]
