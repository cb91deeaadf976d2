"""Tools passed through the gateway to real backend protocols: an `openai` SDK call with tools and a tool-call
history reaches Ollama's /api/chat, an OpenAI-compatible server and Gemini as the exact JSON each expects
(local servers speaking their wire, asserting the body), and their calls come back as the SDK reads them."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient
from pytest_httpserver import HTTPServer
from tests.fixtures.auth import School
from tests.fixtures.gateway import key_of

from jindan.api.app import create_app
from jindan.db.engine import Database
from jindan.llm.base import LLMProvider
from jindan.llm.gemini import GeminiProvider
from jindan.llm.ollama import OllamaProvider
from jindan.llm.openai import OpenAIProvider
from jindan.llm.router import Router
from jindan.settings import Settings

PARAMS = {  # nested objects, bounds and anyOf: what ollama-python's own Tool model would drop
    "type": "object",
    "properties": {
        "student": {"type": "object", "properties": {"id": {"type": "integer", "minimum": 1}}, "required": ["id"]},
        "subject": {"anyOf": [{"type": "string", "enum": ["math", "korean"]}, {"type": "null"}]},
    },
    "required": ["student"],
    "additionalProperties": False,
}
TOOL: Any = {"type": "function", "function": {"name": "get_mastery", "description": "A student's mastery",
                                              "parameters": PARAMS}}  # fmt: skip
HISTORY: Any = [
    {"role": "system", "content": "짧게"},
    {"role": "user", "content": "7번 학생 수학?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_mastery", "arguments": '{"student": {"id": 7}, "subject": "math"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"mastery": 0.62}'},
    {"role": "user", "content": "이번엔 8번"},
]


def served(settings: Settings, db: Database, name: str, provider: LLMProvider) -> TestClient:
    settings.llm.routes = {"chat": [name]}  # type: ignore[dict-item]
    settings.privacy.allow = [name]
    settings.ollama.preload = False
    return TestClient(create_app(settings, db, Router(settings, {name: provider}, backoff_s=0.01)))


def ask(client: TestClient, school: School, **extra: Any) -> Any:
    api = openai.OpenAI(base_url="http://testserver/v1", api_key=key_of(school.headers["service"]), http_client=client,
                        max_retries=0)  # fmt: skip
    return api.chat.completions.create(model="gpt-4o-mini", messages=HISTORY, tools=[TOOL], max_tokens=50,
                                       temperature=0, **extra)  # fmt: skip


def test_ollama_gets_the_tools_and_history_as_is(
    httpserver: HTTPServer, settings: Settings, db: Database, school: School
) -> None:
    expected = {
        "model": "qwen2.5:7b",
        "messages": [
            {"role": "system", "content": "짧게"},
            {"role": "user", "content": "7번 학생 수학?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "get_mastery", "arguments": {"student": {"id": 7}, "subject": "math"}}}]},
            {"role": "tool", "content": '{"mastery": 0.62}', "tool_name": "get_mastery"},
            {"role": "user", "content": "이번엔 8번"},
        ],
        "tools": [TOOL],
        "stream": True,
        "options": {"num_ctx": 8192, "temperature": 0.0, "num_predict": 50},
        "keep_alive": "30m",
    }  # fmt: skip
    call = {"function": {"name": "get_mastery", "arguments": {"student": {"id": 8}, "subject": "math"}}}
    lines = [
        {"model": "qwen2.5:7b", "created_at": "2026-12-01T00:00:00Z", "done": False,
         "message": {"role": "assistant", "content": "", "tool_calls": [call]}},
        {"model": "qwen2.5:7b", "created_at": "2026-12-01T00:00:01Z", "done": True, "done_reason": "stop",
         "message": {"role": "assistant", "content": ""}, "prompt_eval_count": 80, "eval_count": 21},
    ]  # fmt: skip
    httpserver.expect_request("/api/chat", method="POST", json=expected).respond_with_data(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), content_type="application/x-ndjson"
    )
    provider = OllamaProvider([httpserver.url_for("")], "qwen2.5:7b", timeout_s=5, connect_timeout_s=0.5)
    with served(settings, db, "ollama", provider) as client:
        r = ask(client, school)
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.content is None
    (got,) = r.choices[0].message.tool_calls or []
    assert got.function.name == "get_mastery"
    assert json.loads(got.function.arguments) == {"student": {"id": 8}, "subject": "math"}
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (80, 21)  # type: ignore[union-attr]


def test_ollama_is_made_to_call_a_named_tool_by_a_format(
    httpserver: HTTPServer, settings: Settings, db: Database, school: School
) -> None:
    """Ollama has no tool_choice: a forced call is asked for with a format (the call's JSON Schema)."""
    captured: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        from werkzeug import Response

        captured.append(request.get_json())
        content = '{"name": "get_mastery", "arguments": {"student": {"id": 8}}}'
        done = {"model": "qwen2.5:7b", "created_at": "2026-12-01T00:00:01Z", "done": True, "done_reason": "stop",
                "message": {"role": "assistant", "content": content}}  # fmt: skip
        return Response(json.dumps(done) + "\n", content_type="application/x-ndjson")

    httpserver.expect_request("/api/chat").respond_with_handler(handler)
    provider = OllamaProvider([httpserver.url_for("")], "qwen2.5:7b", timeout_s=5, connect_timeout_s=0.5)
    with served(settings, db, "ollama", provider) as client:
        r = ask(client, school, tool_choice={"type": "function", "function": {"name": "get_mastery"}})
    (got,) = r.choices[0].message.tool_calls or []
    assert json.loads(got.function.arguments) == {"student": {"id": 8}} and r.choices[0].finish_reason == "tool_calls"
    assert captured[0]["format"] == {"type": "object", "properties": {"name": {"const": "get_mastery"},
                                     "arguments": PARAMS}, "required": ["name", "arguments"],
                                     "additionalProperties": False}  # fmt: skip


def sse_chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> str:
    body: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "qwen",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    if usage:
        body["usage"] = usage
    return "data: " + json.dumps(body) + "\n\n"


@pytest.mark.parametrize("choice", ["required", "named"])
def test_openai_compatible_server_gets_the_request_as_is(
    httpserver: HTTPServer, settings: Settings, db: Database, school: School, choice: str
) -> None:
    tool_choice: Any = "required" if choice == "required" else {"type": "function", "function": {"name": "get_mastery"}}
    expected = {
        "model": "qwen2.5-7b-instruct",
        "messages": HISTORY,
        "temperature": 0.0,
        "max_tokens": 50,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {**TOOL["function"]}}],
        "tool_choice": tool_choice,
        "parallel_tool_calls": False,
    }
    body = (
        sse_chunk({"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": "call_x", "type": "function",
                   "function": {"name": "get_mastery", "arguments": ""}}]})
        + sse_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"student": '}}]})
        + sse_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"id": 8}}'}}]})
        + sse_chunk({}, "tool_calls")
        + sse_chunk({}, None, {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102})
        + "data: [DONE]\n\n"
    )  # fmt: skip
    httpserver.expect_request("/v1/chat/completions", method="POST", json=expected).respond_with_data(
        body, content_type="text/event-stream"
    )
    provider = OpenAIProvider("qwen2.5-7b-instruct", base_url=httpserver.url_for("/v1"), timeout_s=5)
    with served(settings, db, "openai", provider) as client:
        r = ask(client, school, tool_choice=tool_choice, parallel_tool_calls=False)
    (got,) = r.choices[0].message.tool_calls or []
    assert (got.function.name, json.loads(got.function.arguments)) == ("get_mastery", {"student": {"id": 8}})
    assert r.choices[0].finish_reason == "tool_calls" and r.usage.completion_tokens == 12  # type: ignore[union-attr]


def test_gemini_gets_declarations_and_function_parts(
    httpserver: HTTPServer, settings: Settings, db: Database, school: School
) -> None:
    captured: list[dict[str, Any]] = []

    def handler(request: Any) -> Any:
        from werkzeug import Response

        captured.append(request.get_json())
        chunk = {"candidates": [{"content": {"role": "model", "parts": [{"functionCall": {
            "name": "get_mastery", "args": {"student": {"id": 8}}}}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 70, "candidatesTokenCount": 9, "totalTokenCount": 79}}  # fmt: skip
        return Response("data: " + json.dumps(chunk) + "\r\n\r\n", content_type="text/event-stream")

    httpserver.expect_request("/v1/models/gemini-2.0-flash:streamGenerateContent").respond_with_handler(handler)
    provider = GeminiProvider("gemini-2.0-flash", api_key="g-key", base_url=httpserver.url_for("/"), timeout_s=5)
    with served(settings, db, "gemini", provider) as client:
        r = ask(client, school, tool_choice="required")
    (got,) = r.choices[0].message.tool_calls or []
    assert (got.function.name, json.loads(got.function.arguments)) == ("get_mastery", {"student": {"id": 8}})
    sent = captured[0]
    assert sent["contents"] == [
        {"role": "user", "parts": [{"text": "7번 학생 수학?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_mastery", "args": {"student": {"id": 7},
                                                                                        "subject": "math"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_mastery", "response": {"mastery": 0.62}}}]},
        {"role": "user", "parts": [{"text": "이번엔 8번"}]},
    ]  # fmt: skip
    (declared,) = sent["tools"][0]["functionDeclarations"]
    assert declared == {"name": "get_mastery", "description": "A student's mastery", "parameters_json_schema": PARAMS}
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
