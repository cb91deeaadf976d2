"""OpenAI's Responses API on the gateway, driven by the real `openai` SDK (``responses.create / stream / parse``),
LangChain's ``ChatOpenAI(use_responses_api=True)`` and the OpenAI Agents SDK against scripted backends that answer
from what the gateway asked them: plain and streamed text, structured output, a tool loop with function_call_output
items, tool_choice, a cut answer reported incomplete, and the refused requests (400, never 500)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage
from langchain_openai import ChatOpenAI
from tests.api.test_gateway_tools import TEMPS, User, agent, cut, extractor, run_tool, sdk
from tests.fixtures.auth import School
from tests.fixtures.gateway import gateway_app, key_of
from tests.llm.fakes import Answering, Scripted

from jindan.db.engine import Database
from jindan.llm.base import ToolCall
from jindan.settings import Settings

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER: Any = {"type": "function", "name": "get_weather", "description": "The weather in a city now",
                "parameters": CITY, "strict": False}  # fmt: skip
ADD: Any = {
    "type": "function",
    "name": "add",
    "parameters": {"type": "object", "properties": {"a": {"type": "number"}}},
}


def served(settings: Settings, db: Database, school: School, backend: Any) -> Iterator[openai.OpenAI]:
    app, _ = gateway_app(settings, db, backend)
    with TestClient(app) as client:
        yield sdk(client, key_of(school.headers["service"]))


@pytest.fixture()
def weather(settings: Settings, db: Database, school: School) -> Iterator[tuple[Answering, openai.OpenAI]]:
    backend = Answering("llamacpp", agent)
    for api in served(settings, db, school, backend):
        yield backend, api


@pytest.fixture()
def extracting(settings: Settings, db: Database, school: School) -> Iterator[tuple[Answering, openai.OpenAI]]:
    backend = Answering("llamacpp", extractor)
    for api in served(settings, db, school, backend):
        yield backend, api


def test_plain_text_with_instructions(weather: tuple[Answering, openai.OpenAI]) -> None:
    backend, api = weather
    r = api.responses.create(model="gpt-4o-mini", instructions="짧게 답하세요", input="날씨는?", temperature=0.3,
                             max_output_tokens=90, metadata={"feature": "hint"}, user="s-7", store=False,
                             reasoning={"effort": "low"}, top_p=0.9)  # fmt: skip
    assert r.id.startswith("resp_") and r.object == "response" and r.status == "completed"
    assert r.output_text == "날씨를 모릅니다" and r.incomplete_details is None
    (item,) = r.output
    assert item.type == "message" and item.role == "assistant" and item.content[0].type == "output_text"
    assert r.usage is not None and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens > 0
    messages, opts = backend.requests[-1]
    assert [(m.role, m.content) for m in messages] == [("system", "짧게 답하세요"), ("user", "날씨는?")]
    assert (opts.max_tokens, opts.temperature, opts.tools) == (90, 0.3, ())


def test_streamed_text_assembled_by_the_sdk(weather: tuple[Answering, openai.OpenAI]) -> None:
    _, api = weather
    with api.responses.stream(model="gpt-4o-mini", input=[{"role": "user", "content": "날씨는?"}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                     "response.content_part.done", "response.output_item.done", "response.completed"]  # fmt: skip
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == "날씨를 모릅니다" and final.status == "completed"


def test_parse_validates_a_pydantic_model(extracting: tuple[Answering, openai.OpenAI]) -> None:
    backend, api = extracting
    r = api.responses.parse(model="gpt-4o-mini", input="Jason is 25 years old.", text_format=User)
    assert r.output_parsed == User(name="Jason", age=25)
    _, opts = backend.requests[-1]
    assert opts.json_schema is not None and opts.json_schema["properties"].keys() == {"name", "age"}
    with api.responses.stream(model="gpt-4o-mini", input="Jason is 25 years old.", text_format=User) as stream:
        assert stream.get_final_response().output_parsed == User(name="Jason", age=25)
    r = api.responses.create(model="gpt-4o-mini", input="Jason?", text={"format": {"type": "json_object"}})
    assert json.loads(r.output_text) == {"name": "Jason", "age": 25} and backend.requests[-1][1].json_schema == {
        "type": "object"
    }


def test_a_tool_loop_with_function_call_outputs(weather: tuple[Answering, openai.OpenAI]) -> None:
    backend, api = weather
    items: list[Any] = [{"role": "user", "content": "서울과 부산 날씨는?"}]
    for _ in range(4):
        r = api.responses.create(model="gpt-4o-mini", input=items, tools=[WEATHER, ADD])
        calls = [o for o in r.output if o.type == "function_call"]
        if not calls:
            break
        items += r.output  # the SDK's own objects go back as input, as its docs show
        items += [{"type": "function_call_output", "call_id": c.call_id, "output": run_tool(c.name, c.arguments)}
                  for c in calls]  # fmt: skip
    assert r.output_text == "서울 21도, 맑음, 부산 24도, 흐림" and r.status == "completed"
    last, opts = backend.requests[-1]
    assert [m.role for m in last] == ["user", "assistant", "tool", "assistant", "tool"]
    assert last[1].tool_calls == (ToolCall("call_seoul", "get_weather", '{"city": "Seoul"}'),)
    assert (last[2].tool_call_id, last[2].name, last[2].content) == ("call_seoul", "get_weather", "21도, 맑음")
    assert [t.name for t in opts.tools] == ["get_weather", "add"] and opts.tools[0].parameters == CITY


def test_streamed_call_assembled_by_the_sdk(weather: tuple[Answering, openai.OpenAI]) -> None:
    _, api = weather
    with api.responses.stream(model="gpt-4o-mini", input="서울 날씨?", tools=[WEATHER]) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    (call,) = final.output
    assert call.type == "function_call" and (call.name, call.call_id) == ("get_weather", "call_seoul")
    assert json.loads(call.arguments) == {"city": "Seoul"} and call.status == "completed"
    assert kinds.count("response.function_call_arguments.delta") == 2
    assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]


@pytest.mark.parametrize(
    ("extra", "choice", "allowed", "parallel"),
    [
        ({"tool_choice": {"type": "function", "name": "add"}}, "required", ("add",), True),
        ({"tool_choice": "required", "parallel_tool_calls": False}, "required", (), False),
        ({"tool_choice": "none"}, "none", (), True),
        (
            {
                "tool_choice": {
                    "type": "allowed_tools",
                    "mode": "required",
                    "tools": [{"type": "function", "name": "add"}],
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
    api.responses.create(model="gpt-4o-mini", input="?", tools=[WEATHER, ADD], **extra)
    _, opts = backend.requests[-1]
    assert (opts.tool_choice, opts.allowed, opts.parallel_tool_calls) == (choice, allowed, parallel)


def test_a_cut_answer_is_incomplete(settings: Settings, db: Database, school: School) -> None:
    for api in served(settings, db, school, Answering("llamacpp", cut)):
        r = api.responses.create(model="gpt-4", input="Jason is 25.", max_output_tokens=8,
                                 text={"format": {"type": "json_object"}})  # fmt: skip
        assert (r.status, r.incomplete_details and r.incomplete_details.reason) == ("incomplete", "max_output_tokens")
        assert r.output[0].status == "incomplete" and r.output_text == '{"name": "Ja'
        events = list(api.responses.create(model="gpt-4", input="Jason is 25.", max_output_tokens=8, stream=True))
        assert events[-1].type == "response.incomplete" and "response.completed" not in [e.type for e in events]
        assert events[-1].response.incomplete_details is not None
        with (
            api.responses.stream(model="gpt-4", input="Jason", max_output_tokens=8) as stream,
            pytest.raises(RuntimeError, match=r"response\.completed"),
        ):
            stream.get_final_response()  # the SDK never hands a cut answer over as a final one


def test_an_answer_that_breaks_off_raises(settings: Settings, db: Database, school: School) -> None:
    for api in served(settings, db, school, Scripted("llamacpp", "break", text="one two three four")):
        with pytest.raises(openai.APIError, match="broke off"):
            list(api.responses.create(model="gpt-4", input="?", stream=True))


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id", "send the whole conversation"),
        ({"conversation": "conv_1"}, "conversation", "not stored"),
        (
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "이 그래프는?"},
                            {"type": "input_image", "image_url": "data:image/png;base64,AA"},
                        ],
                    }
                ]
            },
            "input[0].content[1]",
            "input_image parts are not supported",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0]",
            "input_file",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]", "send the item itself"),
        ({"input": [{"type": "web_search_call", "id": "ws"}]}, "input[0]", "web_search_call items"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role", "one of user"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id", "names the call"),
        ({"input": []}, "input", "at least one message"),
        ({"tools": [{"type": "web_search"}]}, "tools[0]", "only function tools"),
        ({"tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice", "no function"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice", "hosted tools"),
        ({"tools": [{"type": "function", "name": "bad name!"}]}, "tools[0]", "function name"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", "needs a schema"),
        (
            {"text": {"format": {"type": "json_schema", "name": "x", "schema": {"$ref": "#/no"}}}},
            "text.format.schema",
            "points at nothing",
        ),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type", "json_schema"),
        ({"max_output_tokens": 0}, "max_output_tokens", "greater than or equal"),
        ({"top_logprobs": 3}, "top_logprobs", "not available"),
        ({"background": True}, "background", "returned"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt", "stored prompts"),
        ({"model": "dall-e-9"}, None, "does not exist"),
        ({"input": 5}, "input.str", "valid string"),
    ],
)
def test_refused_with_a_clear_400(
    weather: tuple[Answering, openai.OpenAI], body: dict[str, Any], param: str | None, says: str
) -> None:
    _, api = weather
    sent = {"model": "gpt-4o-mini", "input": "?", **body}
    r = api._client.post("/v1/responses", json=sent, headers={"Authorization": f"Bearer {api.api_key}"})
    assert r.status_code == (404 if param is None else 400), r.text
    error = r.json()["error"]
    assert says in error["message"] and error["param"] == param, error


def test_a_wrong_key_is_refused_in_the_openai_shape(weather: tuple[Answering, openai.OpenAI]) -> None:
    _, api = weather
    with pytest.raises(openai.AuthenticationError) as info:
        api.with_options(api_key="not-a-key").responses.create(model="gpt-4o-mini", input="?")
    assert info.value.status_code == 401 and info.value.body["type"] == "authentication_error"  # type: ignore[index]


def test_nothing_is_stored(weather: tuple[Answering, openai.OpenAI]) -> None:
    _, api = weather
    r = api.responses.create(model="gpt-4o-mini", input="?", store=True)
    assert r.store is False
    with pytest.raises(openai.NotFoundError, match="keeps no responses"):
        api.responses.retrieve(r.id)


def test_langchain_with_the_responses_api(
    weather: tuple[Answering, openai.OpenAI], extracting: tuple[Answering, openai.OpenAI]
) -> None:
    _, api = weather
    _, extract_api = extracting
    for method in ("json_schema", "function_calling"):
        structured = ChatOpenAI(model="gpt-4o-mini", base_url="http://testserver/v1", api_key=extract_api.api_key,  # type: ignore[arg-type]
                                http_client=extract_api._client, max_retries=0, use_responses_api=True)  # fmt: skip
        found = structured.with_structured_output(User, method=method).invoke("Jason is 25 years old.")  # type: ignore[arg-type]
        assert found == User(name="Jason", age=25), method
    chat = ChatOpenAI(model="gpt-4o-mini", base_url="http://testserver/v1", api_key=api.api_key,  # type: ignore[arg-type]
                      http_client=api._client, max_retries=0, use_responses_api=True)  # fmt: skip
    assert chat.invoke("날씨는?").text == "날씨를 모릅니다"
    message = chat.bind_tools([WEATHER]).invoke("서울 날씨?")
    assert isinstance(message, AIMessage)
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [("get_weather", {"city": "Seoul"},
                                                                              "call_seoul")]  # fmt: skip
    streamed = "".join(str(c.text) for c in chat.stream("날씨는?"))
    assert streamed == "날씨를 모릅니다"


def test_an_openai_agent_with_a_function_tool(settings: Settings, db: Database, school: School) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # nothing leaves this machine
    backend = Answering("llamacpp", agent)
    app, _ = gateway_app(settings, db, backend)  # type: ignore[arg-type]
    key = key_of(school.headers["service"])

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city now."""
        return TEMPS[city]

    async def go() -> Any:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                client = openai.AsyncOpenAI(base_url="http://testserver/v1", api_key=key, http_client=http)
                model = OpenAIResponsesModel(model="gpt-4o-mini", openai_client=client)
                weather_agent = Agent(name="날씨", instructions="도시의 날씨를 알려 주세요", model=model,
                                      tools=[get_weather])  # fmt: skip
                return await Runner.run(weather_agent, "서울과 부산 날씨는?")

    result = asyncio.run(go())
    assert result.final_output == "서울 21도, 맑음, 부산 24도, 흐림"
    last, _ = backend.requests[-1]
    assert [m.role for m in last] == ["system", "user", "assistant", "tool", "assistant", "tool"]


def test_text_after_a_call_streams_into_its_own_item(settings: Settings, db: Database, school: School) -> None:
    def call_then_text(messages: Any, opts: Any) -> list[Any]:
        return [ToolCall("call_1", "get_weather", '{"city": "Seoul"}'), "확인 중", "입니다"]

    for api in served(settings, db, school, Answering("llamacpp", call_then_text)):
        with api.responses.stream(model="gpt-4o-mini", input="서울?", tools=[WEATHER]) as stream:
            final = stream.get_final_response()
        whole = api.responses.create(model="gpt-4o-mini", input="서울?", tools=[WEATHER])
        for r in (final, whole):
            assert sorted(o.type for o in r.output) == ["function_call", "message"]
            assert r.output_text == "확인 중입니다" and r.status == "completed"
