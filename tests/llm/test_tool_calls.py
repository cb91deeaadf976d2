"""The pieces of tool calls and structured output that need no model: schema checks and bounds, the grammars
llama.cpp parses, the parser of a constrained answer, the plain-chat form of a tool conversation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jindan.llm import grammar, structured
from jindan.llm.base import ChatMessage, Delta, GenOptions, Tool, ToolCall, ToolCallDelta
from jindan.llm.tools import CallParser, ToolCalls, as_text_chat

WEATHER = Tool("get_weather", "The weather", {"type": "object", "properties": {"city": {"type": "string"}},
                                             "required": ["city"]})  # fmt: skip
ADD = Tool("add", "", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ([], "a JSON Schema is an object"),
        ({"type": "dict"}, r"\$.type: one of"),
        ({"properties": {"a": 3}}, r"\$.properties.a: a schema is an object"),
        ({"$ref": "#/$defs/X"}, "points at nothing"),
        ({"$ref": "https://example.com/s.json"}, "only references inside the schema"),
        ({"type": "string", "minLength": 5, "maxLength": 2}, "minLength is above maxLength"),
        ({"type": "string", "pattern": "(("}, "not a regular expression"),
        ({"anyOf": []}, "non-empty list"),
        ({"type": "array", "maxItems": -1}, "whole number"),
    ],
)
def test_check_refuses_what_no_backend_could_honour(schema: Any, says: str) -> None:
    with pytest.raises(structured.SchemaError, match=says):
        structured.check(schema)


def test_bounds_follow_the_budget_and_keep_the_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string", "maxLength": 9},
              "tags": {"type": "array", "items": {"type": "string"}}, "c": {"type": "string", "minLength": 40},
              "e": {"type": "string", "enum": ["x"]}}}  # fmt: skip
    small = structured.bounded(schema, 64)
    big = structured.bounded(schema, 4000)
    props = small["properties"]
    assert props["a"]["maxLength"] == structured.MIN_STRING and props["b"]["maxLength"] == 9
    assert props["c"]["maxLength"] == 40  # never below the schema's own minimum
    assert props["tags"]["maxItems"] == structured.ITEMS_CAP and "maxLength" not in props["e"]
    assert big["properties"]["a"]["maxLength"] > 100 and "maxLength" not in schema["properties"]["a"]


def test_gemini_schema_becomes_json_schema() -> None:
    gemini = {"type": "OBJECT", "propertyOrdering": ["b", "a"], "properties": {
        "a": {"type": "INTEGER", "format": "int32"}, "b": {"type": "STRING", "nullable": True},
        "c": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "3"}}}  # fmt: skip
    assert structured.from_gemini(gemini) == {
        "type": "object",
        "properties": {"b": {"anyOf": [{"type": "string"}, {"type": "null"}]}, "a": {"type": "integer"},
                       "c": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
    }  # fmt: skip
    snake = {"type": "OBJECT", "property_ordering": ["b", "a"], "properties": {  # as google-genai may send it
        "a": {"type": "STRING", "min_length": "2"}, "b": {"type": "ARRAY", "items": {"type": "STRING"},
        "max_items": "3"}, "max_items": {"type": "STRING"}}}  # fmt: skip
    assert structured.from_gemini(snake) == {
        "type": "object",
        "properties": {"b": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                       "a": {"type": "string", "minLength": 2}, "max_items": {"type": "string"}},
    }  # fmt: skip


def parses(rules: str) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    LlamaGrammar.from_string(rules, verbose=False)


def test_grammars_are_bounded_and_keep_numbers_in_range() -> None:
    pytest.importorskip("llama_cpp")  # part of the default install; without it there is no embedded model
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 5},
              "m": {"type": "integer", "minimum": 0}, "s": {"type": "string"}, "free": {"type": "object"}},
              "required": ["n"], "$defs": {"unused": {"type": "string"}}}  # fmt: skip
    rules = grammar.for_schema(schema, 100)
    parses(rules)
    assert 'n ::= "1" | "2" | "3" | "4" | "5"' in rules and "m ::= nonneg-int" in rules
    assert "char*" not in rules and "\\x00-\\x1F" in rules  # no unbounded string, no raw newline inside one
    tools = grammar.for_tools((WEATHER, ADD), required=True, parallel=False, budget=200)
    parses(tools)
    assert '"{\\"name\\": \\"get_weather\\", \\"arguments\\": " t0-args "}"' in tools and "root ::= calls" in tools
    parses(grammar.for_tools((WEATHER,), required=False, parallel=True, budget=200))


def test_two_tools_with_the_same_definition_names_keep_their_own() -> None:
    pytest.importorskip("llama_cpp")
    one = Tool("one", "", {"$defs": {"Item": {"type": "integer"}}, "type": "object",
                           "properties": {"x": {"$ref": "#/$defs/Item"}}})  # fmt: skip
    two = Tool("two", "", {"$defs": {"Item": {"type": "boolean"}}, "type": "object",
                           "properties": {"x": {"$ref": "#/$defs/Item"}}})  # fmt: skip
    rules = grammar.for_tools((one, two), required=True, parallel=False, budget=100)
    parses(rules)
    assert "t0-args-x ::= integer" in rules and "t1-args-x ::= boolean" in rules


def feed(parser: CallParser, text: str, size: int) -> list[Delta | ToolCallDelta]:
    out: list[Delta | ToolCallDelta] = []
    for i in range(0, len(text), size):
        out += parser.feed(text[i : i + size])
    return out + parser.finish()


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_parser_reads_calls_in_any_split(size: int) -> None:
    text = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Se}oul \\"x\\""} }\n</tool_call>\n'
            '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": [2, {"c": 3}]}}\n</tool_call>')  # fmt: skip
    parser = CallParser()
    calls = ToolCalls()
    for event in feed(parser, text, size):
        assert isinstance(event, ToolCallDelta)
        calls.add(event)
    got = calls.calls()
    assert [(c.name, json.loads(c.arguments)) for c in got] == [
        ("get_weather", {"city": 'Se}oul "x"'}), ("add", {"a": 1, "b": [2, {"c": 3}]})]  # fmt: skip
    assert parser.closed == 2 and got[0].id.startswith("call_") and got[0].id != got[1].id


def test_parser_passes_text_through() -> None:
    assert "".join(e.text for e in feed(CallParser(), "Hello <b>there</b>", 2) if isinstance(e, Delta)) == (
        "Hello <b>there</b>")  # fmt: skip
    held = feed(CallParser(), "<b>bold</b>", 4)  # held back while it could open a call, then passed on
    assert all(isinstance(e, Delta) for e in held) and "".join(e.text for e in held) == "<b>bold</b>"  # type: ignore[union-attr]
    assert [e.text for e in feed(CallParser(), "<tool", 2) if isinstance(e, Delta)] == ["<tool"]  # cut: kept


def test_tool_conversation_as_plain_chat() -> None:
    call = ToolCall("c1", "get_weather", '{"city":"Seoul"}')
    history = [ChatMessage("system", "Be brief."), ChatMessage("user", "Seoul?"),
               ChatMessage("assistant", "", tool_calls=(call,)), ChatMessage("tool", "21C", tool_call_id="c1"),
               ChatMessage("tool", "sunny", tool_call_id="c2"), ChatMessage("user", "thanks")]  # fmt: skip
    plain = as_text_chat(history, GenOptions(tools=(WEATHER,)))
    assert [m.role for m in plain] == ["system", "user", "assistant", "user", "user"]
    assert plain[0].content.startswith("Be brief.\n\nYou can call functions") and '"get_weather"' in plain[0].content
    assert plain[2].content == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Seoul"}}\n</tool_call>'
    assert plain[3].content == "<tool_response>\n21C\n</tool_response>\n<tool_response>\nsunny\n</tool_response>"
    none = as_text_chat(history, GenOptions(tools=(WEATHER,), tool_choice="none"))
    assert none[0].content == "Be brief."  # no tools offered, the history still readable
    assert as_text_chat(history[:2], GenOptions()) == history[:2]
