"""The Responses API on the embedded model (SmolLM2 through llama.cpp), through the real `openai` SDK: a parsed
answer validates, a named or required function call's arguments validate (grammar-constrained decoding), and an
answer ``max_output_tokens`` cuts comes back incomplete."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from tests.api.test_gateway_embedded_tools import QUESTION, Grade, Weather, api  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

GRADE: Any = {"type": "function", "name": "Grade", "description": "A grade for a student's answer.",
              "parameters": Grade.model_json_schema(), "strict": True}  # fmt: skip
WEATHER: Any = {"type": "function", "name": "get_weather", "description": "The weather in a city now",
                "parameters": Weather.model_json_schema()}  # fmt: skip


def test_parse_validates_on_the_embedded_model(api: openai.OpenAI) -> None:  # noqa: F811
    r = api.responses.parse(model="gpt-4o-mini", input=QUESTION, text_format=Grade, max_output_tokens=200,
                            temperature=0)  # fmt: skip
    assert r.status == "completed" and isinstance(r.output_parsed, Grade)


def test_named_and_required_calls_validate(api: openai.OpenAI) -> None:  # noqa: F811
    named = api.responses.create(model="gpt-4o-mini", input=QUESTION, tools=[WEATHER, GRADE], max_output_tokens=200,
                                 tool_choice={"type": "function", "name": "Grade"}, temperature=0)  # fmt: skip
    (call,) = [o for o in named.output if o.type == "function_call"]
    assert call.name == "Grade"
    Grade.model_validate_json(call.arguments)
    ask: Any = {"input": "What is the weather in Seoul?", "tools": [WEATHER, GRADE], "max_output_tokens": 200}
    with api.responses.stream(model="gpt-4o-mini", tool_choice="required", parallel_tool_calls=False, **ask) as stream:
        final = stream.get_final_response()
    (call,) = [o for o in final.output if o.type == "function_call"]
    (Weather if call.name == "get_weather" else Grade).model_validate_json(call.arguments)


def test_a_schema_answer_cut_is_incomplete(api: openai.OpenAI) -> None:  # noqa: F811
    fmt: Any = {"type": "json_schema", "name": "Grade", "schema": Grade.model_json_schema(), "strict": True}
    r = api.responses.create(model="gpt-4", input=QUESTION, max_output_tokens=6, text={"format": fmt})
    assert r.status == "incomplete" and r.incomplete_details and r.incomplete_details.reason == "max_output_tokens"
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.output_text)
