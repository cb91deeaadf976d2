"""GBNF grammars for the embedded llama.cpp model: answers that always parse, and close.

Built with llama-cpp-python's JSON-Schema converter (imported only here, only when asked) from schemas bounded by
``structured.bounded``, with three changes to what it makes: a JSON string's characters exclude raw control
characters (a newline inside a string must be written ``\\n``, or the JSON does not parse), free-form strings,
objects and arrays (``json_object``, ``additionalProperties: true``) are bounded too, and whole numbers with a
lower bound of 0 or 1 or a small range are kept inside it. Tool calls are ``<tool_call>`` blocks around
``{"name": ..., "arguments": ...}`` (the layout ``llm.tools.CallParser`` reads), one alternative per tool.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jindan.llm import structured
from jindan.llm.base import Tool

CHAR = r'[^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
MAX_CALLS = 4  # calls in one answer when parallel calls are allowed
FREE_MEMBERS = 8  # members of a free-form object or array
ENUM_RANGE = 200  # a whole-number range this small becomes a list of its values
TEXT = r"root ::= [^<] [^\x00]*"  # plain text that does not open a call
SPECIAL = {"nonneg-int": '("0" | [1-9] [0-9]{0,15}) space', "pos-int": '[1-9] [0-9]{0,15} space',
           "nonneg-number": '("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? space'}  # fmt: skip


def _module() -> Any:
    import importlib

    return importlib.import_module("llama_cpp.llama_grammar")


def _converter() -> Any:
    return _module().SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)


def _numbers(node: Any, defs: dict[str, Any], prefix: str) -> Any:
    """Schemas with whole-number bounds the converter ignores, rewritten: a small range as its values, a lower
    bound of 0 or 1 as a reference to a rule without a minus sign. ``$ref``s get ``prefix`` (tools share one
    grammar, and the converter names a definition's rule by its last path segment)."""
    if isinstance(node, list):
        return [_numbers(n, defs, prefix) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k in ("enum", "const", "default", "examples") else _numbers(v, defs, prefix))
           for k, v in node.items()}  # fmt: skip
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#/"):
        head, _, name = out["$ref"].rpartition("/")
        out["$ref"] = f"{head}/{prefix}{name}"
    for key in ("$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {f"{prefix}{k}": v for k, v in out[key].items()}
    kind = out.get("type")
    if kind not in ("integer", "number") or "enum" in out or "const" in out:
        return out
    low = out.get("minimum", out["exclusiveMinimum"] + 1 if isinstance(out.get("exclusiveMinimum"), int) else None)
    high = out.get("maximum", out["exclusiveMaximum"] - 1 if isinstance(out.get("exclusiveMaximum"), int) else None)
    if kind == "integer" and isinstance(low, int) and isinstance(high, int) and 0 <= high - low < ENUM_RANGE:
        return {"enum": list(range(low, high + 1))}
    special = None
    if isinstance(low, int | float) and low >= 0 and high is None:
        special = "nonneg-number" if kind == "number" else "pos-int" if low >= 1 else "nonneg-int"
    if special is None:
        return out
    defs[special] = {}
    return {"$ref": f"#/$defs/{special}"}


def _prepare(conv: Any, schema: dict[str, Any], budget: int, prefix: str) -> dict[str, Any]:
    specials: dict[str, Any] = {}
    ready = _numbers(structured.bounded(schema, budget), specials, prefix)
    if specials:
        ready.setdefault("$defs", {}).update(specials)
        for name in specials:
            conv._rules[name] = SPECIAL[name]
    resolved: dict[str, Any] = conv.resolve_refs(ready, prefix)
    return resolved


def _finish(conv: Any, budget: int) -> str:
    """The converter's rules with its free-form strings, objects and arrays bounded; then the grammar text."""
    repeat = _module()._build_repetition
    rules = conv._rules
    n = max(structured.MIN_STRING, min(structured.STRING_CAP, budget // 4))

    def more(item: str) -> str:  # up to FREE_MEMBERS - 1 more items after the first
        return str(repeat(f'"," space {item}', 0, FREE_MEMBERS - 1))

    if "char" in rules:
        rules["char"] = CHAR
    if "string" in rules:
        rules["string"] = r'"\"" ' + repeat("char", 0, n) + r' "\"" space'
    if "object" in rules:
        member = 'string ":" space value'
        rules["object"] = f'"{{" space ( {member} {more(member)} )? "}}" space'
    if "array" in rules:
        rules["array"] = f'"[" space ( value {more("value")} )? "]" space'
    for name, rule in list(rules.items()):  # additional-properties members: as many as a free-form object
        if name.endswith("additional-kvs"):
            kv = rule.split(" ", 1)[0]
            rules[name] = f"{kv} {more(kv)}"
    return str(conv.format_grammar())


class SchemaUnsupported(ValueError):
    """llama.cpp's converter cannot write a grammar for this schema (e.g. a look-ahead in a ``pattern``)."""


def for_schema(schema: dict[str, Any], budget: int) -> str:
    """A grammar for one JSON value matching ``schema``, sized for ``budget`` tokens; SchemaUnsupported for a
    schema the converter cannot take."""
    conv = _converter()
    _visit(conv, schema, budget, "", "")
    return _finish(conv, budget)


def _visit(conv: Any, schema: dict[str, Any], budget: int, prefix: str, name: str) -> str:
    try:
        rule: str = conv.visit(_prepare(conv, schema, budget, prefix), name)
    except (AssertionError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise SchemaUnsupported(str(exc) or type(exc).__name__) from exc
    return rule


def for_fenced(schema: dict[str, Any], budget: int) -> str | None:
    """A grammar for one JSON value matching ``schema`` inside a ```json code block; None (left unconstrained:
    the request never asked for a constraint) for a schema the converter cannot take or whose rules refer back
    to the root."""
    try:
        rules = for_schema(schema, max(1, budget - 8)).splitlines()  # the fence's own tokens
    except Exception:
        return None
    if any(re.search(r"\broot\b", line.split("::=", 1)[-1]) for line in rules):
        return None
    body = [line.replace("root ::=", "fenced-json ::=", 1) if line.startswith("root ::=") else line for line in rules]
    return "\n".join([*body, r'root ::= "```json\n" fenced-json "\n```"'])


def for_tools(tools: tuple[Tool, ...], required: bool, parallel: bool, budget: int) -> str:
    """A grammar for one or more ``<tool_call>`` blocks (``required``), or for those or plain text (auto)."""
    conv = _converter()
    share = max(64, budget // (MAX_CALLS if parallel else 1))
    alternatives = []
    for i, tool in enumerate(tools):
        args = _visit(conv, tool.parameters, share, f"t{i}-", f"t{i}-args")
        head = json.dumps(f'{{"name": "{tool.name}", "arguments": ')
        alternatives.append(f'{head} {args} "}}"')
    conv._rules["call"] = " | ".join(alternatives)
    block = r'"<tool_call>\n" call "\n</tool_call>"'
    more = f' ("\\n" {block}){{0,{MAX_CALLS - 1}}}' if parallel else ""
    conv._rules["calls"] = block + more
    conv._rules["root"] = "calls" if required else r"calls | [^<] [^\x00]*"  # or TEXT
    return _finish(conv, budget)
