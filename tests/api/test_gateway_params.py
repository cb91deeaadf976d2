"""The rest of what client libraries send, through the real `openai` and `google-genai` SDKs: accepted and
ignored where harmless (user, metadata, store, reasoning_effort, max_completion_tokens, ...), the usage chunk
at the end of a stream (tool calls too), a clear 400 naming the parameter where it cannot be honoured (n > 1,
logprobs, audio, images), and no odd body ever answered with a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient
from google.genai import errors, types
from tests.api.test_gateway_gemini_tools import sdk as gemini_sdk
from tests.fixtures.auth import School
from tests.fixtures.gateway import gateway_app, key_of
from tests.llm.fakes import Answering, Reply

from jindan.db.engine import Database
from jindan.llm.base import ChatMessage, GenOptions, ToolCall, Usage
from jindan.settings import Settings

WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip
ASK: Any = [{"role": "user", "content": "서울 날씨?"}]


def reply(messages: list[ChatMessage], opts: GenOptions) -> list[Reply]:
    if opts.callable_tools():
        return [
            ToolCall("call_1", "get_weather", '{"city": "Seoul"}'),
            Usage("llamacpp", "m", 12, 9, finish_reason="tool_calls"),
        ]
    return ["맑음", Usage("llamacpp", "m", 12, 3, finish_reason="stop")]


@pytest.fixture()
def served(settings: Settings, db: Database, school: School) -> Iterator[tuple[Answering, TestClient, str]]:
    backend = Answering("llamacpp", reply)
    app, _ = gateway_app(settings, db, backend)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield backend, client, key_of(school.headers["service"])


def sdk(client: TestClient, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)


def test_accepted_parameters_reach_the_backend_or_are_ignored(served: tuple[Answering, TestClient, str]) -> None:
    backend, client, key = served
    r = sdk(client, key).chat.completions.create(
        model="gpt-4o-mini", messages=ASK, user="student-7", metadata={"feature": "grading"}, store=True,
        reasoning_effort="high", max_completion_tokens=33, max_tokens=99, n=1, logprobs=False, top_logprobs=0,
        modalities=["text"], parallel_tool_calls=True, service_tier="default", prediction=None,
        stream_options=None, extra_body={"safety_identifier": "x", "verbosity": "low", "a_future_field": [1, {}]},
    )  # fmt: skip
    assert r.choices[0].message.content == "맑음" and r.choices[0].finish_reason == "stop"
    _, opts = backend.requests[-1]
    assert opts.max_tokens == 33  # max_completion_tokens wins over the older max_tokens


def test_usage_chunk_ends_a_stream_of_text_and_of_tool_calls(served: tuple[Answering, TestClient, str]) -> None:
    _, client, key = served
    api = sdk(client, key)
    for extra in ({}, {"tools": [WEATHER], "tool_choice": "required"}):
        chunks = list(api.chat.completions.create(model="gpt-4", messages=ASK, stream=True,
                                                  stream_options={"include_usage": True}, **extra))  # fmt: skip
        *body, last = chunks
        assert last.choices == [] and last.usage is not None and last.usage.prompt_tokens == 12
        assert all(c.usage is None for c in body) and body[-1].choices[0].finish_reason in ("stop", "tool_calls")
        assert last.usage.total_tokens == 12 + last.usage.completion_tokens
    plain = list(api.chat.completions.create(model="gpt-4", messages=ASK, stream=True))
    assert all(c.usage is None and c.choices for c in plain)  # no usage chunk unless asked
    with api.chat.completions.stream(model="gpt-4", messages=ASK, tools=[WEATHER], tool_choice="required",
                                     stream_options={"include_usage": True}) as stream:  # fmt: skip
        final = stream.get_final_completion()
    assert final.usage is not None and final.usage.completion_tokens == 9
    assert json.loads((final.choices[0].message.tool_calls or [])[0].function.arguments) == {"city": "Seoul"}


@pytest.mark.parametrize(
    ("extra", "param", "says"),
    [
        ({"n": 3}, "n", "one choice per request"),
        ({"logprobs": True, "top_logprobs": 2}, "logprobs", "log probabilities are not available"),
        ({"top_logprobs": 2}, "top_logprobs", "log probabilities are not available"),
        ({"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}, "modalities", "text only"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}],
                    }
                ]
            },
            "messages[0].content[0]",
            "input_audio parts are not supported",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "?"},
                            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                        ],
                    }
                ]
            },
            "messages[0].content[1]",
            "image_url parts are not",
        ),
    ],
)
def test_what_cannot_be_honoured_is_a_clear_400(
    served: tuple[Answering, TestClient, str], extra: dict[str, Any], param: str, says: str
) -> None:
    backend, client, key = served
    body = {"model": "gpt-4", "messages": ASK, **extra}
    with pytest.raises(openai.BadRequestError, match=says) as info:
        sdk(client, key).chat.completions.create(**body)
    assert info.value.status_code == 400 and info.value.body["param"] == param  # type: ignore[index]
    assert backend.requests == []  # refused before any model ran


ODD: list[Any] = [
    {"model": "gpt-4", "messages": ASK, "n": "two"},
    {"model": "gpt-4", "messages": ASK, "stream_options": 5},
    {"model": "gpt-4", "messages": ASK, "stream_options": {"include_usage": "sure"}},
    {"model": "gpt-4", "messages": ASK, "metadata": [1, 2]},
    {"model": "gpt-4", "messages": ASK, "tools": "get_weather"},
    {"model": "gpt-4", "messages": ASK, "tools": [5]},
    {"model": "gpt-4", "messages": ASK, "tools": [{"type": "function", "function": {"name": "f", "parameters": 5}}]},
    {"model": "gpt-4", "messages": ASK, "tool_choice": 5},
    {"model": "gpt-4", "messages": ASK, "functions": ["f"]},
    {"model": "gpt-4", "messages": ASK, "response_format": {"type": "xml"}},
    {"model": "gpt-4", "messages": ASK, "response_format": {"type": "json_schema", "json_schema": {"schema": 3}}},
    {"model": "gpt-4", "messages": ASK, "stop": [1, 2]},
    {"model": "gpt-4", "messages": ASK, "modalities": "text"},
    {"model": "gpt-4", "messages": [{"role": "user", "content": [{"type": 5}]}]},
    {"model": "gpt-4", "messages": [{"role": "user", "content": [{"text": "no type"}]}]},
    {"model": "gpt-4", "messages": [{"role": "assistant", "tool_calls": [5]}, *ASK]},
    {
        "model": "gpt-4",
        "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 5}}]}],
    },
    {"model": "gpt-4", "messages": [{"role": "robot", "content": "?"}]},
    {"model": ["gpt-4"], "messages": ASK},
    {"messages": ASK},
    [1, 2, 3],
    "just text",
]


@pytest.mark.parametrize("body", ODD)
def test_odd_bodies_are_4xx_never_500(served: tuple[Answering, TestClient, str], body: Any) -> None:
    _, client, key = served
    r = client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


def test_gemini_refuses_what_it_cannot_honour(served: tuple[Answering, TestClient, str]) -> None:
    backend, client, key = served
    api = gemini_sdk(client, key)
    for config, says in (
        (types.GenerateContentConfig(candidate_count=2), "candidateCount"),
        (types.GenerateContentConfig(response_logprobs=True, logprobs=3), "log probabilities are not available"),
        (types.GenerateContentConfig(response_modalities=["IMAGE"]), "TEXT only"),
    ):
        with pytest.raises(errors.ClientError, match=says) as info:
            api.models.generate_content(model="gemini-1.5-flash", contents="2+2?", config=config)
        assert info.value.code == 400
    fine = api.models.generate_content(model="gemini-1.5-flash", contents="2+2?", config=types.GenerateContentConfig(
        response_modalities=["TEXT"], candidate_count=1, top_p=0.9, top_k=20, presence_penalty=0.1,
        thinking_config=types.ThinkingConfig(thinking_budget=0),
        safety_settings=[types.SafetySetting(category=types.HarmCategory.HARM_CATEGORY_HARASSMENT,
                                             threshold=types.HarmBlockThreshold.BLOCK_NONE)]))  # fmt: skip
    assert fine.text == "맑음" and len(backend.requests) == 1


TEXT: Any = [{"parts": [{"text": "?"}]}]
ODD_GEMINI: list[Any] = [
    {"contents": "x"},
    {"contents": [{"parts": [{"inlineData": 5}]}]},
    {"contents": TEXT, "generationConfig": {"responseSchema": {"type": "WHAT"}}},
    {"contents": TEXT, "generationConfig": {"responseJsonSchema": {"properties": 3}}},
    {"contents": TEXT, "generationConfig": {"responseModalities": "TEXT"}},
    {"contents": TEXT, "tools": [{"functionDeclarations": [{"name": "f", "parameters": 5}]}]},
    {
        "contents": TEXT,
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": 5}},
    },
    {"contents": TEXT, "toolConfig": 5},
    {"contents": [{"role": "model", "parts": [{"functionCall": 5}]}]},
    {"contents": [{"parts": [{"functionResponse": {"response": 1}}]}]},
    {"contents": TEXT, "systemInstruction": {"parts": [{"inlineData": {"data": "AA"}}]}},
    [1],
]


@pytest.mark.parametrize("body", ODD_GEMINI)
def test_odd_gemini_bodies_are_400_streamed_or_not(served: tuple[Answering, TestClient, str], body: Any) -> None:
    backend, client, key = served
    for call in ("generateContent", "streamGenerateContent?alt=sse"):
        r = client.post(f"/v1beta/models/gemini-1.5-flash:{call}", json=body, headers={"x-goog-api-key": key})
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", r.text
    assert backend.requests == []
