"""Gemini function calling through the gateway, driven by the real `google-genai` SDK: declarations and the
calling config reach the backend in the internal form, functionCall parts come back as the SDK reads them,
and its automatic function calling loop runs Python functions against jindan until a text answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from google import genai
from google.genai import errors, types
from tests.fixtures.auth import School
from tests.fixtures.gateway import gateway_app, key_of
from tests.llm.fakes import Answering, Reply

from jindan.db.engine import Database
from jindan.llm.base import ChatMessage, GenOptions, ToolCall, Usage
from jindan.settings import Settings

SCORES = {"kim": 87, "lee": 92}


def get_score(student: str) -> int:
    """The last test score of a student.

    Args:
        student: the student's family name in lower case
    """
    return SCORES[student]


def grader(messages: list[ChatMessage], opts: GenOptions) -> list[Reply]:
    """Asks for kim's score, then lee's, then answers from both."""
    results = [m for m in messages if m.role == "tool"]
    if len(results) == 2:
        return [f"kim {results[0].content}, ", f"lee {results[1].content}"]
    if not opts.callable_tools():
        return ["결과 없음"]
    who = "kim" if not results else "lee"
    return [ToolCall(f"call_{who}", "get_score", json.dumps({"student": who}))]


def sdk(http: httpx.Client, key: str, version: str = "v1beta") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url="http://testserver/", api_version=version,
                                                                     httpx_client=http))  # fmt: skip


@pytest.fixture()
def graded(settings: Settings, db: Database, school: School) -> Iterator[tuple[Answering, genai.Client]]:
    backend = Answering("llamacpp", grader)
    app, _ = gateway_app(settings, db, backend)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield backend, sdk(client, key_of(school.headers["service"]))


def test_automatic_function_calling_loop(graded: tuple[Answering, genai.Client]) -> None:
    backend, api = graded
    r = api.models.generate_content(model="gemini-2.0-flash", contents="kim과 lee의 점수는?",
                                    config=types.GenerateContentConfig(tools=[get_score]))  # fmt: skip
    assert r.text == 'kim {"result": 87}, lee {"result": 92}'
    assert len(backend.requests) == 3  # two calls made by the SDK itself, then the answer
    messages, opts = backend.requests[-1]
    assert [m.role for m in messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert messages[1].tool_calls[0].name == "get_score" and json.loads(messages[1].tool_calls[0].arguments) == {
        "student": "kim"}  # fmt: skip
    assert (messages[2].name, messages[2].tool_call_id) == ("get_score", messages[1].tool_calls[0].id)
    (declared,) = opts.tools
    assert declared.name == "get_score" and "student" in json.dumps(declared.parameters)
    history = r.automatic_function_calling_history or []
    assert [p.function_call.name for c in history for p in c.parts or [] if p.function_call] == ["get_score"] * 2


def test_function_calls_come_back_as_parts(graded: tuple[Answering, genai.Client]) -> None:
    _, api = graded
    declaration = types.FunctionDeclaration(
        name="get_score", description="A student's last score",
        parameters=types.Schema(type=types.Type.OBJECT, properties={"student": types.Schema(type=types.Type.STRING)},
                                required=["student"]),
    )  # fmt: skip
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    r = api.models.generate_content(model="gemini-1.5-flash", contents="kim의 점수?", config=config)
    (call,) = r.function_calls or []
    assert (call.name, call.args, call.id) == ("get_score", {"student": "kim"}, "call_kim")
    assert r.candidates and r.candidates[0].finish_reason == types.FinishReason.STOP
    chunks = list(api.models.generate_content_stream(model="gemini-1.5-flash", contents="kim의 점수?", config=config))
    streamed = [fc for c in chunks for fc in c.function_calls or []]
    assert [(fc.name, fc.args) for fc in streamed] == [("get_score", {"student": "kim"})]


@pytest.mark.parametrize(
    ("mode", "names", "choice", "allowed"),
    [("ANY", ["get_score"], "required", ("get_score",)), ("ANY", None, "required", ()), ("NONE", None, "none", ()),
     ("AUTO", None, "auto", ())],
)  # fmt: skip
def test_function_calling_config_reaches_the_backend(
    graded: tuple[Answering, genai.Client], mode: str, names: list[str] | None, choice: str, allowed: tuple[str, ...]
) -> None:
    backend, api = graded
    calling = types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode(mode), allowed_function_names=names)
    config = types.GenerateContentConfig(
        tools=[get_score], tool_config=types.ToolConfig(function_calling_config=calling),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )  # fmt: skip
    api.models.generate_content(model="gemini-1.5-flash", contents="?", config=config)
    _, opts = backend.requests[-1]
    assert (opts.tool_choice, opts.allowed) == (choice, allowed)


def test_history_with_ids_and_refusals(graded: tuple[Answering, genai.Client]) -> None:
    backend, api = graded
    history: Any = [
        {"role": "user", "parts": [{"text": "kim?"}]},
        {"role": "model", "parts": [{"functionCall": {"id": "c9", "name": "get_score", "args": {"student": "kim"}}},
                                    {"thoughtSignature": "c2ln"}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "c9", "name": "get_score", "response": {"score": 87}}},
                                   {"text": "그리고?"}]},
    ]  # fmt: skip
    api.models.generate_content(model="gemini-1.5-flash", contents=history)
    messages, _ = backend.requests[-1]
    assert [(m.role, m.tool_call_id, m.content) for m in messages[1:]] == [
        ("assistant", None, ""), ("tool", "c9", '{"score": 87}'), ("user", None, "그리고?")]  # fmt: skip
    with pytest.raises(errors.ClientError, match="allowedFunctionNames not declared: nope"):
        calling = types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY, allowed_function_names=["nope"])
        api.models.generate_content(model="gemini-1.5-flash", contents="?", config=types.GenerateContentConfig(
            tools=[get_score], tool_config=types.ToolConfig(function_calling_config=calling)))  # fmt: skip
    with pytest.raises(errors.ClientError, match="only functionDeclarations"):
        api.models.generate_content(model="gemini-1.5-flash", contents="?", config=types.GenerateContentConfig(
            tools=[types.Tool(google_search=types.GoogleSearch())]))  # fmt: skip


def cut(messages: list[ChatMessage], opts: GenOptions) -> list[Reply]:
    return ['{"student": "ki', Usage("llamacpp", "m", 10, 8, finish_reason="length")]


def test_schema_answer_cut_says_max_tokens(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Answering("llamacpp", cut))  # type: ignore[arg-type]
    schema = types.Schema(type=types.Type.OBJECT, properties={"student": types.Schema(type=types.Type.STRING)})
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema,
                                         max_output_tokens=8)  # fmt: skip
    with TestClient(app) as client:
        r = sdk(client, key_of(school.headers["service"])).models.generate_content(
            model="gemini-1.5-flash", contents="?", config=config)  # fmt: skip
    assert r.candidates and r.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
