"""A schema spelled out in the prompt with "answer in a ```json code block" (instructor's MD_JSON mode): found,
and turned into a grammar for the block, so the embedded model fills the schema instead of copying it."""

from __future__ import annotations

import json

from llama_cpp.llama_grammar import LlamaGrammar

from jindan.llm import grammar, structured

USER = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"]}  # fmt: skip
SYSTEM = f"provide the parsed objects in json that match the following json_schema:\n\n{json.dumps(USER, indent=2)}"
ASK = "Jason is 25.\n\nReturn the correct JSON response within a ```json codeblock. not the JSON_SCHEMA"


def test_the_fenced_request_is_found_only_when_both_are_there() -> None:
    assert structured.fenced_ask([SYSTEM, ASK], ASK) == USER
    assert structured.fenced_ask([SYSTEM, "Jason is 25."], "Jason is 25.") is None  # no block asked for
    assert structured.fenced_ask(["Show a ```json example"], "Show a ```json example") is None  # no schema


def test_the_grammar_wraps_the_schema_in_the_block() -> None:
    rules = grammar.for_fenced(USER, 120)
    assert rules is not None and rules.endswith('root ::= "```json\\n" fenced-json "\\n```"')
    assert "fenced-json ::= " in rules and rules.count("root ::=") == 1
    LlamaGrammar.from_string(rules, verbose=False)  # llama.cpp parses it
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}}}  # the converter cannot take it
    assert grammar.for_fenced(tree, 120) is None  # left unconstrained, never an error
