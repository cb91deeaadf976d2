"""Tool calls and structured output on the OpenAI wire, driven by the real `openai`, `instructor` and
`langchain-openai` clients against scripted backends that answer from what the gateway asked them: the tool
loop, tool_choice, streamed calls as the SDKs assemble them, schema answers, cut answers, the refused parts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import instructor
import openai
import pytest
from fastapi.testclient import TestClient
from instructor.core.exceptions import IncompleteOutputException
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool as lc_tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from tests.fixtures.auth import School
from tests.fixtures.gateway import gateway_app, key_of
from tests.llm.fakes import Answering, Reply

from jindan.db.engine import Database
from jindan.llm.base import ChatMessage, GenOptions, ToolCall, Usage
from jindan.settings import Settings

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
NUMBERS = {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}
ADD: Any = {"type": "function", "function": {"name": "add", "parameters": NUMBERS}}
TEMPS = {"Seoul": "21도, 맑음", "Busan": "24도, 흐림"}


class User(BaseModel):
    name: str
    age: int


def agent(messages: list[ChatMessage], opts: GenOptions) -> list[Reply]:
    """Calls get_weather for Seoul, then for Busan, then answers from both results."""
    results = [m for m in messages if m.role == "tool"]
    if not opts.callable_tools() or len(results) == 2:
        return [
            f"서울 {results[0].content}, " if results else "날씨를 모릅니다",
            f"부산 {results[1].content}" if results else "",
        ]
    city = "Seoul" if not results else "Busan"
    return [ToolCall(f"call_{city.lower()}", "get_weather", json.dumps({"city": city}))]


def extractor(messages: list[ChatMessage], opts: GenOptions) -> list[Reply]:
    """Answers an extraction the way the request asks: a tool call, schema JSON, or JSON in a markdown block."""
    found = '{"name": "Jason", "age": 25}'
    if opts.callable_tools():
        return [ToolCall("call_1", (opts.allowed or (opts.tools[0].name,))[0], found)]
    if opts.json_schema is not None:
        return [found[:12], found[12:]]
    return ["Here it is:\n```json\n", found, "\n```"]


@pytest.fixture()
def weather(settings: Settings, db: Database, school: School) -> Iterator[tuple[Answering, openai.OpenAI]]:
    backend = Answering("llamacpp", agent)
    app, _ = gateway_app(settings, db, backend)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield backend, sdk(client, key_of(school.headers["service"]))


def sdk(client: httpx.Client, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)


def run_tool(name: str, arguments: str) -> str:
    assert name == "get_weather"
    return TEMPS[json.loads(arguments)["city"]]


def test_a_tool_loop_of_two_calls_and_a_final_answer(weather: tuple[Answering, openai.OpenAI]) -> None:
    backend, api = weather
    messages: list[Any] = [{"role": "user", "content": "서울과 부산 날씨는?"}]
    reasons = []
    for _ in range(4):
        r = api.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER, ADD])
        choice = r.choices[0]
        reasons.append(choice.finish_reason)
        if choice.finish_reason != "tool_calls":
            break
        assert choice.message.content is None and choice.message.tool_calls
        messages.append(choice.message.model_dump(exclude_none=True))
        for call in choice.message.tool_calls:
            assert call.type == "function"
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": run_tool(call.function.name, call.function.arguments)})  # fmt: skip
    assert reasons == ["tool_calls", "tool_calls", "stop"]
    assert choice.message.content == "서울 21도, 맑음, 부산 24도, 흐림"
    last, opts = backend.requests[-1]  # what the backend was given on the third turn: the whole loop
    assert [m.role for m in last] == ["user", "assistant", "tool", "assistant", "tool"]
    assert last[1].tool_calls == (ToolCall("call_seoul", "get_weather", '{"city": "Seoul"}'),)
    assert (last[2].tool_call_id, last[2].name, last[2].content) == ("call_seoul", "get_weather", "21도, 맑음")
    assert [t.name for t in opts.tools] == ["get_weather", "add"] and opts.tool_choice == "auto"
    assert opts.tools[0].parameters == WEATHER["function"]["parameters"]


def test_streamed_tool_calls_as_the_sdk_assembles_them(weather: tuple[Answering, openai.OpenAI]) -> None:
    _, api = weather
    question: Any = [{"role": "user", "content": "서울 날씨?"}]
    chunks = list(api.chat.completions.create(model="gpt-4o-mini", messages=question, tools=[WEATHER], stream=True,
                                              stream_options={"include_usage": True}))  # fmt: skip
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content is None and first.tool_calls
    assert (first.tool_calls[0].index, first.tool_calls[0].id) == (0, "call_seoul")
    assert first.tool_calls[0].function and first.tool_calls[0].function.name == "get_weather"
    pieces = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks[1:] if c.choices
              and c.choices[0].delta.tool_calls]  # fmt: skip
    assert len(pieces) == 2 and json.loads("".join(p or "" for p in pieces)) == {"city": "Seoul"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    with api.chat.completions.stream(model="gpt-4o-mini", messages=question, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()  # the SDK's own accumulator
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Seoul"}
    assert final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("extra", "choice", "allowed", "parallel"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "add"}}}, "required", ("add",), True),
        ({"tool_choice": "required", "parallel_tool_calls": False}, "required", (), False),
        ({"tool_choice": "none"}, "none", (), True),
        (
            {
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "add"}}]},
                }
            },
            "required",
            ("add",),
            True,
        ),
    ],
)
def test_tool_choice_reaches_the_backend(
    weather: tuple[Answering, openai.OpenAI], extra: dict[str, Any], choice: str, allowed: tuple[str, ...],
    parallel: bool,
) -> None:  # fmt: skip
    backend, api = weather
    api.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "?"}],
                                tools=[WEATHER, ADD], **extra)  # fmt: skip
    _, opts = backend.requests[-1]
    assert (opts.tool_choice, opts.allowed, opts.parallel_tool_calls) == (choice, allowed, parallel)


def test_older_functions_form_answers_with_function_call(weather: tuple[Answering, openai.OpenAI]) -> None:
    _, api = weather
    r = api.chat.completions.create(  # type: ignore[call-overload]
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "서울?"}],
        functions=[WEATHER["function"]], function_call={"name": "get_weather"},
    )  # fmt: skip
    assert r.choices[0].finish_reason == "function_call"
    fc = r.choices[0].message.function_call
    assert fc is not None and fc.name == "get_weather" and json.loads(fc.arguments) == {"city": "Seoul"}


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
            "no function named 'nope'",
        ),
        ({"tool_choice": "required"}, "tool_choice", "needs tools"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tools[0]", "function name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "dict"}}}]},
            "tools[0]",
            "type",
        ),
        ({"tools": [WEATHER, WEATHER]}, "tools", "same name"),
        ({"n": 2}, "n", "one choice per request"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/nowhere"}}}},
            "response_format",
            "points at nothing",
        ),
    ],
)
def test_refused_with_a_clear_400(
    weather: tuple[Answering, openai.OpenAI], body: dict[str, Any], param: str, says: str
) -> None:
    _, api = weather
    with pytest.raises(openai.BadRequestError, match=says) as info:
        api.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "?"}], **body)
    assert info.value.body["param"] == param  # type: ignore[index]


def test_images_and_broken_history_are_refused_naming_the_part(weather: tuple[Answering, openai.OpenAI]) -> None:
    _, api = weather
    picture = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}
    image: Any = [{"role": "user", "content": [{"type": "text", "text": "이 그래프는?"}, picture]}]
    with pytest.raises(openai.BadRequestError, match=r"messages\[0\]\.content\[1\]: image_url parts are not") as info:
        api.chat.completions.create(model="gpt-4", messages=image)
    assert info.value.body["param"] == "messages[0].content[1]"  # type: ignore[index]
    orphan: Any = [{"role": "user", "content": "?"}, {"role": "tool", "content": "21"}]
    with pytest.raises(openai.BadRequestError, match="tool_call_id"):
        api.chat.completions.create(model="gpt-4", messages=orphan)


def test_what_the_libraries_also_send_is_accepted(weather: tuple[Answering, openai.OpenAI]) -> None:
    backend, api = weather
    r = api.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "developer", "content": "짧게"}, {"role": "user", "content": "?"}],
        user="student-7", metadata={"feature": "grading"}, store=False, reasoning_effort="low", n=1,
        max_completion_tokens=77, service_tier="auto", top_p=0.9, frequency_penalty=0, presence_penalty=0,
        logit_bias={}, stream_options=None, logprobs=False, extra_body={"some_future_field": {"x": 1}},
    )  # fmt: skip
    assert r.choices[0].finish_reason == "stop"
    messages, opts = backend.requests[-1]
    assert opts.max_tokens == 77 and messages[0].role == "system"


@pytest.fixture()
def extracting(settings: Settings, db: Database, school: School) -> Iterator[tuple[Answering, openai.OpenAI]]:
    backend = Answering("llamacpp", extractor)
    app, _ = gateway_app(settings, db, backend)  # type: ignore[arg-type]
    with TestClient(app) as client:
        yield backend, sdk(client, key_of(school.headers["service"]))


@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA, instructor.Mode.JSON,
                                  instructor.Mode.MD_JSON])  # fmt: skip
def test_instructor_modes(extracting: tuple[Answering, openai.OpenAI], mode: instructor.Mode) -> None:
    backend, api = extracting
    client = instructor.from_openai(api, mode=mode)
    user = client.chat.completions.create(
        model="gpt-4o-mini", response_model=User, max_retries=0,
        messages=[{"role": "user", "content": "Jason is 25 years old."}],
    )  # fmt: skip
    assert user.model_dump() == {"name": "Jason", "age": 25}
    _, opts = backend.requests[-1]
    if mode == instructor.Mode.TOOLS:
        assert (opts.tool_choice, opts.allowed, [t.name for t in opts.tools]) == ("required", ("User",), ["User"])
        assert opts.tools[0].parameters["properties"].keys() == {"name", "age"}
    elif mode == instructor.Mode.JSON_SCHEMA:
        assert opts.json_schema is not None and opts.json_schema["properties"].keys() == {"name", "age"}
    elif mode == instructor.Mode.JSON:
        assert opts.json_schema == {"type": "object"} and not opts.tools
    else:
        assert opts.json_schema is None and not opts.tools


def test_langchain_tools_and_structured_output(
    extracting: tuple[Answering, openai.OpenAI], weather: tuple[Answering, openai.OpenAI]
) -> None:
    _, extract_api = extracting
    _, weather_api = weather

    @lc_tool
    def get_weather(city: str) -> str:
        """The weather in a city now."""
        return TEMPS[city]

    def chat(api: openai.OpenAI) -> ChatOpenAI:
        return ChatOpenAI(model="gpt-4o-mini", base_url="http://testserver/v1", api_key=api.api_key,  # type: ignore[arg-type]
                          http_client=api._client, max_retries=0)  # fmt: skip

    for method in ("function_calling", "json_schema", "json_mode"):
        found = chat(extract_api).with_structured_output(User, method=method).invoke("Jason is 25 years old.")  # type: ignore[arg-type]
        assert isinstance(found, User) and found.model_dump() == {"name": "Jason", "age": 25}, method
    bound = chat(weather_api).bind_tools([get_weather])
    message = bound.invoke("서울 날씨?")
    assert message.tool_calls == [{"name": "get_weather", "args": {"city": "Seoul"}, "id": "call_seoul",
                                   "type": "tool_call"}]  # fmt: skip
    streamed: AIMessageChunk | None = None
    for chunk in bound.stream("서울 날씨?"):
        streamed = chunk if streamed is None else streamed + chunk  # type: ignore[assignment]
    assert streamed is not None and streamed.tool_calls[0]["args"] == {"city": "Seoul"}


def cut(messages: list[ChatMessage], opts: GenOptions) -> list[Reply]:
    if opts.callable_tools():
        return [ToolCall("call_1", "User", '{"name": "Ja'), Usage("llamacpp", "m", 10, 8, finish_reason="length")]
    return ['{"name": "Ja', Usage("llamacpp", "m", 10, 8, finish_reason="length")]


def test_a_cut_answer_is_reported_as_length(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Answering("llamacpp", cut))  # type: ignore[arg-type]
    ask: Any = [{"role": "user", "content": "Jason is 25."}]
    with TestClient(app) as client:
        api = sdk(client, key_of(school.headers["service"]))
        raw = api.chat.completions.create(model="gpt-4", messages=ask, max_tokens=8,
                                          response_format={"type": "json_object"})  # fmt: skip
        streamed = list(api.chat.completions.create(model="gpt-4", messages=ask, max_tokens=8, stream=True))
        with pytest.raises(openai.LengthFinishReasonError):
            api.chat.completions.parse(model="gpt-4", messages=ask, max_tokens=8, response_format=User)
        for mode in (instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA):
            with pytest.raises(IncompleteOutputException):
                instructor.from_openai(api, mode=mode).chat.completions.create(
                    model="gpt-4", messages=ask, max_tokens=8, response_model=User, max_retries=0)  # fmt: skip
    assert raw.choices[0].finish_reason == "length" and raw.choices[0].message.content == '{"name": "Ja'
    assert [c.choices[0].finish_reason for c in streamed if c.choices][-1] == "length"
