"""JSON Schemas the callers send (structured output, tool arguments): checked, translated, and bounded.

``check`` refuses what no backend could honour (before any model runs, so the caller gets a clear 400);
``from_gemini`` turns Gemini's OpenAPI-style ``Schema`` into JSON Schema; ``bounded`` gives every string a
``maxLength`` and every array a ``maxItems`` sized to the answer's token budget, so a small model cannot run away
inside a field and a constrained answer can close before ``max_tokens`` (a value it bounds more tightly still
validates against the caller's schema). The grammars built from them live in ``llm.grammar``.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames")
SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
COUNTS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
MAX_DEPTH = 24
STRING_CAP = 1000  # characters, when the schema gives none and the budget allows more
ITEMS_CAP = 10  # items per array, when the schema gives no maxItems
EXPECTED_ITEMS = 4  # items an array is counted at when the budget is shared out (a full one may run to length)
MIN_STRING = 16  # a budget never bounds a string below this (nor below the schema's minLength)


class SchemaError(ValueError):
    """A schema that cannot be honoured; the message says where (a JSON path) and why."""


def check(schema: Any) -> None:
    """Refuse a malformed schema: unknown types, non-schema members, broken or remote ``$ref``s."""
    if not isinstance(schema, dict):
        raise SchemaError("a JSON Schema is an object")
    _check(schema, schema, "$", 0)


def _check(node: Any, root: dict[str, Any], path: str, depth: int) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise SchemaError(f"{path}: a schema is an object")
    if depth > MAX_DEPTH:
        raise SchemaError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    kind = node.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not kinds or any(not isinstance(k, str) or k not in TYPES for k in kinds):
            raise SchemaError(f"{path}.type: one of {', '.join(sorted(TYPES))} (got {kind!r})")
    for key in SCHEMA_MAPS:
        if key in node:
            members = node[key]
            if not isinstance(members, dict):
                raise SchemaError(f"{path}.{key}: an object of schemas")
            for name, sub in members.items():
                _check(sub, root, f"{path}.{key}.{name}", depth + 1)
    for key in SUBSCHEMA:
        if key in node:
            sub = node[key]
            if key == "items" and isinstance(sub, list):
                for i, s in enumerate(sub):
                    _check(s, root, f"{path}.items[{i}]", depth + 1)
            else:
                _check(sub, root, f"{path}.{key}", depth + 1)
    for key in SCHEMA_LISTS:
        if key in node:
            options = node[key]
            if not isinstance(options, list) or not options:
                raise SchemaError(f"{path}.{key}: a non-empty list of schemas")
            for i, s in enumerate(options):
                _check(s, root, f"{path}.{key}[{i}]", depth + 1)
    required = node.get("required", [])
    if not isinstance(required, list) or any(not isinstance(r, str) for r in required):
        raise SchemaError(f"{path}.required: a list of property names")
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        raise SchemaError(f"{path}.enum: a non-empty list")
    for key in COUNTS:
        value = node.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise SchemaError(f"{path}.{key}: a whole number >= 0")
    for low, high in (("minLength", "maxLength"), ("minItems", "maxItems")):
        if isinstance(node.get(low), int) and isinstance(node.get(high), int) and node[low] > node[high]:
            raise SchemaError(f"{path}: {low} is above {high}")
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        value = node.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SchemaError(f"{path}.{key}: a number")
    if "pattern" in node:
        try:
            re.compile(node["pattern"])
        except (re.error, TypeError):
            raise SchemaError(f"{path}.pattern: not a regular expression") from None
    if "$ref" in node:
        _resolve(root, node["$ref"], path)


def _resolve(root: dict[str, Any], ref: Any, path: str) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SchemaError(f"{path}.$ref: only references inside the schema (#/...) are followed")
    target: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            raise SchemaError(f"{path}.$ref: {ref} points at nothing")
        target = target[part]
    return target


# Gemini ---------------------------------------------------------------------------------------------------
GEMINI_DROP = {"example", "propertyOrdering", "nullable", "default"}
INT_KEYS = {*COUNTS}
SNAKE = {  # the same Schema fields as protobuf's JSON also accepts them (google-genai sends some this way)
    "any_of": "anyOf",
    "max_items": "maxItems",
    "min_items": "minItems",
    "max_length": "maxLength",
    "min_length": "minLength",
    "max_properties": "maxProperties",
    "min_properties": "minProperties",
    "property_ordering": "propertyOrdering",
}


def from_gemini(schema: Any) -> Any:
    """Gemini's ``Schema`` (types in capitals, ``nullable``, ``propertyOrdering``, counts sent as strings) as
    JSON Schema."""
    if isinstance(schema, list):
        return [from_gemini(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    schema = {SNAKE.get(k, k): v for k, v in schema.items()}
    for key, value in schema.items():
        if key in GEMINI_DROP:
            continue
        if key == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out["type"] = value.lower()
        elif key == "properties" and isinstance(value, dict):
            order = [p for p in schema.get("propertyOrdering") or [] if p in value]
            names = order + [p for p in value if p not in order]
            out["properties"] = {p: from_gemini(value[p]) for p in names}
        elif key in INT_KEYS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)
        elif key == "format" and out.get("type", str(schema.get("type", "")).lower()) != "string":
            continue  # int32, float, double: number formats the JSON Schema side does not need
        elif key == "format" and value not in ("date", "time", "date-time", "uuid"):
            continue  # enum and the other Gemini-only formats
        else:
            out[key] = from_gemini(value)
    if schema.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


# Bounds -----------------------------------------------------------------------------------------------------
def bounded(schema: dict[str, Any], budget_tokens: int, string_cap: int = STRING_CAP) -> dict[str, Any]:
    """A copy of ``schema`` whose unbounded strings and arrays are bounded by the answer's token budget.

    The strings share what the budget leaves after the JSON's own punctuation and keys, counting one token per
    character (the worst case of a byte-level vocabulary), so the answer can always close in time; a string
    keeps at least ``MIN_STRING`` characters and never less than its ``minLength``."""
    out = copy.deepcopy(schema)
    leaves, keys = _size(out, out, 0, set())
    room = max(0, budget_tokens - 4 * keys - 8)
    share = max(MIN_STRING, min(string_cap, room // max(1, leaves)))
    _bound(out, share, 0)
    return out


def _size(node: Any, root: dict[str, Any], depth: int, seen: set[str]) -> tuple[int, int]:
    """(string leaves, object keys) an answer is expected to hold, an array counted at a few items."""
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return 0, 0
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return 1, 1
        try:
            return _size(_resolve(root, ref, "$"), root, depth + 1, seen | {ref})
        except SchemaError:
            return 0, 0
    options = [o for key in ("anyOf", "oneOf") for o in node.get(key) or []]
    if options:
        sizes = [_size(o, root, depth + 1, seen) for o in options]
        return max(s[0] for s in sizes), max(s[1] for s in sizes)
    kinds: list[Any] = node["type"] if isinstance(node.get("type"), list) else [node.get("type")]
    leaves = keys = 0
    props = node.get("properties")
    if isinstance(props, dict):
        for sub in props.values():
            a, b = _size(sub, root, depth + 1, seen)
            leaves, keys = leaves + a, keys + b + 1
    items = node.get("items")
    if isinstance(items, dict):
        n = min(node.get("maxItems") or ITEMS_CAP, EXPECTED_ITEMS)
        a, b = _size(items, root, depth + 1, seen)
        leaves, keys = leaves + n * max(a, 1), keys + n * b
    if "string" in kinds and "enum" not in node and "const" not in node:
        leaves += 1
    if node.get("type") == "object" and not props:
        leaves, keys = leaves + 4, keys + 4  # a free-form object: a few members
    return leaves, keys


def _bound(node: Any, share: int, depth: int) -> None:
    if not isinstance(node, dict) or depth > MAX_DEPTH * 2:
        return
    kinds: list[Any] = node["type"] if isinstance(node.get("type"), list) else [node.get("type")]
    plain = not any(k in node for k in ("enum", "const", "format", "pattern"))
    if "string" in kinds and plain:
        low = node.get("minLength", 0)
        node["maxLength"] = max(low, min(node.get("maxLength", share), share))
    if "array" in kinds or isinstance(node.get("items"), dict):
        low = node.get("minItems", 0)
        node["maxItems"] = max(low, node.get("maxItems", ITEMS_CAP))
    for key in SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            for sub in node[key].values():
                _bound(sub, share, depth + 1)
    for key in SUBSCHEMA:
        sub = node.get(key)
        for one in sub if isinstance(sub, list) else [sub]:
            _bound(one, share, depth + 1)
    for key in SCHEMA_LISTS:
        for one in node.get(key) or []:
            _bound(one, share, depth + 1)


def in_prompt(messages: list[str], limit: int = 64) -> dict[str, Any] | None:
    """The JSON Schema of an object that a prompt spells out (instructor's JSON mode and many hand-written
    prompts put it there and ask for ``json_object``): the first JSON object in ``messages`` with ``properties``
    that ``check`` accepts, or None. At most ``limit`` candidate braces are tried."""
    decoder = json.JSONDecoder()
    tried = 0
    for text in messages:
        at = text.find("{")
        while at != -1 and tried < limit:
            tried += 1
            try:
                value, end = decoder.raw_decode(text, at)
            except ValueError:
                at = text.find("{", at + 1)
                continue
            if (
                isinstance(value, dict)
                and isinstance(value.get("properties"), dict)
                and value.get("type")
                in (
                    None,
                    "object",
                )
            ):
                try:
                    check(value)
                except SchemaError:
                    pass
                else:
                    return {"type": "object", **value}
            at = text.find("{", end)
    return None


FENCE = "```json"


def fenced_ask(system_and_user: list[str], last_user: str) -> dict[str, Any] | None:
    """The schema of a request that spells a JSON Schema out in its prompt and asks for the answer in a
    ```json code block, with no ``response_format`` (instructor's MD_JSON mode and hand-written prompts like it):
    the schema ``in_prompt`` finds when the last user message asks for the block, else None."""
    if FENCE not in last_user.lower():
        return None
    return in_prompt(system_and_user)
