"""The OpenAI provider against a real OpenAI-compatible server: `python -m llama_cpp.server` on loopback."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from jindan.llm.base import ChatMessage, Delta, GenOptions, ProviderUnavailable, Usage, collect
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
