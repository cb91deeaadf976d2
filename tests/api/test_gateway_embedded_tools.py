"""Tool calls and structured output on the embedded model (SmolLM2 through llama.cpp), through the real client
libraries: whatever the small model writes, a forced call's arguments and a schema answer parse and validate
(grammar-constrained decoding), and an answer the token limit cuts says `length`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import instructor
import openai
import pytest
from fastapi.testclient import TestClient
from google.genai import types
from instructor.core.exceptions import IncompleteOutputException
from pydantic import BaseModel, Field
from tests.api.test_gateway_gemini_tools import sdk as gemini_sdk
from tests.fixtures.auth import School
from tests.fixtures.gateway import gateway_app, key_of

from jindan.db.engine import Database
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.settings import Settings

pytestmark = pytest.mark.slow


class Weather(BaseModel):
    city: str
    unit: Literal["celsius", "fahrenheit"] = "celsius"


class Grade(BaseModel):
    """A grade for a student's answer."""

    correct: bool
    score: int = Field(ge=0, le=10)
    feedback: str


WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city now",
                                                 "parameters": Weather.model_json_schema()}}  # fmt: skip
GRADE: Any = openai.pydantic_function_tool(Grade)
QUESTION: Any = [{"role": "user", "content": "Grade this answer. Question: 2+2? Answer: 5."}]


@pytest.fixture()
def api(settings: Settings, db: Database, school: School, smol: LlamaCppProvider) -> Iterator[openai.OpenAI]:
    app, _ = gateway_app(settings, db, smol)
    with TestClient(app) as client:
        yield openai.OpenAI(base_url="http://testserver/v1", api_key=key_of(school.headers["service"]),
                            http_client=client, max_retries=0)  # fmt: skip


def test_named_and_required_calls_parse_and_validate(api: openai.OpenAI) -> None:
    named = api.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, tools=[WEATHER, GRADE],
                                        tool_choice={"type": "function", "function": {"name": "Grade"}},
                                        max_tokens=200, temperature=0)  # fmt: skip
    assert named.choices[0].finish_reason == "tool_calls"
    (call,) = named.choices[0].message.tool_calls or []
    assert call.function.name == "Grade"
    Grade.model_validate_json(call.function.arguments)  # bounds too: 0 <= score <= 10
    required = api.chat.completions.create(model="gpt-4o-mini", tools=[WEATHER, GRADE], tool_choice="required",
                                           messages=[{"role": "user", "content": "What is the weather in Seoul?"}],
                                           max_tokens=200, temperature=0, parallel_tool_calls=False)  # fmt: skip
    (call,) = required.choices[0].message.tool_calls or []
    model = Weather if call.function.name == "get_weather" else Grade
    model.model_validate_json(call.function.arguments)


def test_streamed_call_assembled_by_the_sdk(api: openai.OpenAI) -> None:
    named: Any = {"type": "function", "function": {"name": "Grade"}}
    with api.chat.completions.stream(model="gpt-4", messages=QUESTION, tools=[GRADE], max_tokens=200,
                                     tool_choice=named) as stream:  # fmt: skip
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert isinstance(call.function.parsed_arguments, Grade) and final.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("mode", [instructor.Mode.TOOLS, instructor.Mode.JSON_SCHEMA, instructor.Mode.JSON,
                                  instructor.Mode.MD_JSON])  # fmt: skip
def test_instructor_modes_validate(api: openai.OpenAI, mode: instructor.Mode) -> None:
    grade = instructor.from_openai(api, mode=mode).chat.completions.create(
        model="gpt-4o-mini", response_model=Grade, messages=QUESTION, max_retries=0, temperature=0)  # fmt: skip
    assert 0 <= grade.score <= 10 and isinstance(grade.feedback, str)


def test_schema_answer_cut_by_max_tokens_says_length(api: openai.OpenAI) -> None:
    spec = {"name": "Grade", "schema": Grade.model_json_schema(), "strict": True}
    raw = api.chat.completions.create(model="gpt-4", messages=QUESTION, max_tokens=6,
                                      response_format={"type": "json_schema", "json_schema": spec})  # type: ignore[typeddict-item]  # fmt: skip
    assert raw.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.choices[0].message.content or "")
    with pytest.raises(IncompleteOutputException):
        instructor.from_openai(api, mode=instructor.Mode.JSON_SCHEMA).chat.completions.create(
            model="gpt-4", response_model=Grade, messages=QUESTION, max_tokens=6, max_retries=0)  # fmt: skip


def test_gemini_function_call_and_schema_on_the_embedded_model(
    settings: Settings, db: Database, school: School, smol: LlamaCppProvider
) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city now.

        Args:
            city: the city
        """
        return "21 degrees and sunny"

    app, _ = gateway_app(settings, db, smol)
    any_mode = types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
    calling = types.ToolConfig(function_calling_config=any_mode)
    manual = types.AutomaticFunctionCallingConfig(disable=True)
    with TestClient(app) as client:
        api = gemini_sdk(client, key_of(school.headers["service"]))
        forced = api.models.generate_content(model="gemini-1.5-flash", contents="Weather in Seoul?",
                                             config=types.GenerateContentConfig(
                                                 tools=[get_weather], tool_config=calling, max_output_tokens=120,
                                                 automatic_function_calling=manual))  # fmt: skip
        afc = api.models.generate_content(model="gemini-1.5-flash", contents="Weather in Seoul?",
                                          config=types.GenerateContentConfig(tools=[get_weather], max_output_tokens=120,
                                                                             temperature=0))  # fmt: skip
        shaped = api.models.generate_content(model="gemini-1.5-flash", contents=QUESTION[0]["content"],
                                             config=types.GenerateContentConfig(
                                                 response_mime_type="application/json", response_schema=Grade,
                                                 max_output_tokens=200, temperature=0))  # fmt: skip
    (call,) = forced.function_calls or []
    assert call.name == "get_weather" and isinstance((call.args or {}).get("city"), str)
    assert afc.text  # the SDK's loop ends with a text answer (after calling get_weather or not)
    assert isinstance(shaped.parsed, Grade)
