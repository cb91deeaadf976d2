"""The contract every LLM provider passes: same events, same usage fields, same failure semantics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from jindan.llm.base import ChatMessage, Delta, GenOptions, LLMProvider, Usage
from tests.llm.test_gemini import PATH as GEMINI_PATH
from tests.llm.test_gemini import sse
from tests.llm.test_ollama import ndjson

MESSAGES = [ChatMessage("system", "Answer briefly."), ChatMessage("user", "What is 2+2?")]


@pytest.fixture(params=["llamacpp", "openai", "ollama", "gemini"])
def provider(request: pytest.FixtureRequest, httpserver: HTTPServer) -> Iterator[LLMProvider]:
    name = request.param
    if name == "llamacpp":
        yield request.getfixturevalue("smol")
        return
    if name == "openai":
        from jindan.llm.openai import OpenAIProvider

        yield OpenAIProvider("smollm2", base_url=request.getfixturevalue("llama_server"))
        return
    if name == "ollama":
        from jindan.llm.ollama import OllamaProvider

        httpserver.expect_request("/api/chat").respond_with_data(ndjson(["Two ", "plus two ", "is four."]))
        httpserver.expect_request("/api/ps").respond_with_json({"models": []})
        yield OllamaProvider([httpserver.url_for("")], "qwen2.5:7b")
        return
    from jindan.llm.gemini import GeminiProvider

    httpserver.expect_request(GEMINI_PATH).respond_with_data(sse(["Two plus ", "two is four."]))
    yield GeminiProvider("gemini-1.5-flash", api_key="k", base_url=httpserver.url_for("/"))


def test_stream_is_deltas_then_exactly_one_usage(provider: LLMProvider) -> None:
    async def run() -> tuple[list[Any], tuple[bool, str]]:
        events = [e async for e in provider.stream(MESSAGES, GenOptions(max_tokens=16))]
        return events, await provider.health()

    events, (ok, detail) = asyncio.run(run())
    deltas = [e for e in events if isinstance(e, Delta)]
    assert deltas and all(d.text for d in deltas)
    assert isinstance(events[-1], Usage) and sum(isinstance(e, Usage) for e in events) == 1
    usage = events[-1]
    assert usage.provider == provider.name and usage.model == provider.model
    assert usage.completion_tokens > 0 and usage.prompt_tokens > 0
    assert 0 <= usage.ttft_ms <= usage.total_ms
    assert usage.finish_reason in ("stop", "length")  # every backend says why it finished; none means cut
    assert isinstance(ok, bool) and isinstance(detail, str) and ok


def test_early_close_is_clean(provider: LLMProvider) -> None:
    async def run() -> Any:
        stream = provider.stream(MESSAGES, GenOptions(max_tokens=16))
        first = await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        return first

    assert isinstance(asyncio.run(run()), Delta)
