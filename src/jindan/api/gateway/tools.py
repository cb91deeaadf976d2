"""Tool calls on both wires, mapped onto one internal form (``llm.base``: ``Tool``, ``ToolCall``, the choice).

OpenAI: ``tools`` (and the older ``functions``), ``tool_choice`` (``auto``, ``none``, ``required``, a named
function, ``allowed_tools``), ``parallel_tool_calls``; assistant turns with ``tool_calls`` and ``role: tool``
results. Gemini: ``tools[].functionDeclarations``, ``toolConfig.functionCallingConfig`` (AUTO / ANY / NONE and
allowed names); ``functionCall`` parts from the model and ``functionResponse`` parts back. Pure functions: the
routes in ``openai.py`` and ``gemini.py`` call them, providers see only the internal form.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jindan.api.gateway.common import WireError
from jindan.llm import structured
from jindan.llm.base import ChatMessage, Tool, ToolCall, ToolChoice
from jindan.llm.tools import new_id

NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MAX_TOOLS = 128


def tool(name: Any, description: Any, parameters: Any, param: str) -> Tool:
    if not isinstance(name, str) or not NAME.match(name):
        raise WireError(400, f"{param}: a function name is 1-64 letters, digits, _ . or - (got {name!r})",
                        "invalid_value", param)  # fmt: skip
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    try:
        structured.check(parameters)
    except structured.SchemaError as exc:
        raise WireError(400, f"{param} ({name}): parameters: {exc}", "invalid_value", param) from None
    return Tool(name, description if isinstance(description, str) else "", parameters)


def unique(tools: list[Tool], param: str) -> tuple[Tool, ...]:
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise WireError(400, f"{param}: two functions have the same name", "invalid_value", param)
    if len(tools) > MAX_TOOLS:
        raise WireError(400, f"{param}: at most {MAX_TOOLS} functions", "invalid_value", param)
    return tuple(tools)


# OpenAI -------------------------------------------------------------------------------------------------
def openai_tools(raw: list[Any] | None, legacy: list[Any] | None) -> tuple[Tool, ...]:
    out: list[Tool] = []
    for i, t in enumerate(raw or []):
        param = f"tools[{i}]"
        kind = t.get("type", "function") if isinstance(t, dict) else type(t).__name__
        if kind != "function":
            raise WireError(400, f"{param}: only function tools are supported (got {kind!r})", "unsupported_tool",
                            param)  # fmt: skip
        function = t.get("function")
        if not isinstance(function, dict):
            raise WireError(400, f"{param}.function: a function tool needs function.name", "invalid_value", param)
        out.append(tool(function.get("name"), function.get("description"), function.get("parameters"), param))
    for i, f in enumerate(legacy or []):
        param = f"functions[{i}]"
        if not isinstance(f, dict):
            raise WireError(400, f"{param}: a function is an object", "invalid_value", param)
        out.append(tool(f.get("name"), f.get("description"), f.get("parameters"), param))
    return unique(out, "tools")


def _named(choice: Any) -> str | None:
    if isinstance(choice, dict):
        f = choice.get("function")
        name = f.get("name") if isinstance(f, dict) else choice.get("name")
        return name if isinstance(name, str) else None
    return None


def openai_choice(choice: Any, legacy: Any, tools: tuple[Tool, ...]) -> tuple[ToolChoice, tuple[str, ...]]:
    """(choice, allowed names) from ``tool_choice`` (or the older ``function_call``)."""
    param = "tool_choice" if choice is not None else "function_call"
    choice = choice if choice is not None else legacy
    names = {t.name for t in tools}
    if choice is None:
        return "auto", ()
    if choice in ("auto", "none", "required"):
        if choice == "required" and not tools:
            raise WireError(400, "tool_choice required needs tools", "invalid_value", param)
        return choice, ()
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        spec = choice.get("allowed_tools") or {}
        allowed = tuple(n for n in (_named(t) for t in spec.get("tools") or []) if n)
        mode = spec.get("mode", "auto")
        if mode not in ("auto", "required") or not allowed or not set(allowed) <= names:
            raise WireError(400, f"{param}: allowed_tools needs mode auto|required and known functions",
                            "invalid_value", param)  # fmt: skip
        return mode, allowed
    name = _named(choice)
    if name is None:
        raise WireError(400, f"{param}: auto, none, required or {{'type': 'function', 'function': {{'name': ...}}}}",
                        "invalid_value", param)  # fmt: skip
    if name not in names:
        raise WireError(400, f"{param}: no function named {name!r} in tools", "invalid_value", param)
    return "required", (name,)


def arguments_text(value: Any, param: str) -> str:
    """A call's arguments as JSON text of an object (the wire sends a string; some clients an object)."""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if value in (None, ""):
        return "{}"
    if not isinstance(value, str):
        raise WireError(400, f"{param}: arguments are a JSON string", "invalid_value", param)
    return value


def openai_calls(raw: Any, legacy: Any, param: str) -> tuple[ToolCall, ...]:
    """The calls an assistant turn of the history made (``tool_calls``, or the older ``function_call``)."""
    calls: list[ToolCall] = []
    for i, c in enumerate(raw or []):
        where = f"{param}.tool_calls[{i}]"
        f = c.get("function") if isinstance(c, dict) else None
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            raise WireError(400, f"{where}: a call has function.name and function.arguments", "invalid_value", where)
        calls.append(ToolCall(str(c.get("id") or new_id()), f["name"], arguments_text(f.get("arguments"), where)))
    if isinstance(legacy, dict) and isinstance(legacy.get("name"), str):
        where = f"{param}.function_call"
        calls.append(ToolCall(f"call_{legacy['name']}", legacy["name"], arguments_text(legacy.get("arguments"), where)))
    return tuple(calls)


def openai_out(calls: list[ToolCall], legacy: bool) -> dict[str, Any]:
    """The ``tool_calls`` (or, for a request in the older ``functions`` form, ``function_call``) of an answer."""
    if legacy:
        first = calls[0]
        return {"function_call": {"name": first.name, "arguments": first.arguments}}
    return {"tool_calls": [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                           for c in calls]}  # fmt: skip


# Gemini -------------------------------------------------------------------------------------------------
def gemini_tools(raw: list[Any] | None) -> tuple[Tool, ...]:
    out: list[Tool] = []
    for i, t in enumerate(raw or []):
        param = f"tools[{i}]"
        if not isinstance(t, dict):
            raise WireError(400, f"{param}: a tool is an object")
        other = [k for k in t if k not in ("functionDeclarations", "function_declarations")]
        if other:
            raise WireError(400, f"{param}: only functionDeclarations are supported (got {', '.join(other)})")
        for j, f in enumerate(t.get("functionDeclarations") or t.get("function_declarations") or []):
            where = f"{param}.functionDeclarations[{j}]"
            if not isinstance(f, dict):
                raise WireError(400, f"{where}: a declaration is an object")
            schema = f.get("parametersJsonSchema", f.get("parameters_json_schema"))  # the SDK sends the latter
            if schema is None and f.get("parameters") is not None:
                schema = structured.from_gemini(f["parameters"])
            out.append(tool(f.get("name"), f.get("description"), schema, where))
    return unique(out, "tools")


def gemini_choice(config: Any, tools: tuple[Tool, ...]) -> tuple[ToolChoice, tuple[str, ...]]:
    cfg = (config or {}).get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(cfg, dict):
        return "auto", ()
    mode = str(cfg.get("mode") or "AUTO").upper()
    allowed = tuple(cfg.get("allowedFunctionNames") or ())
    unknown = set(allowed) - {t.name for t in tools}
    if unknown:
        raise WireError(400, f"toolConfig: allowedFunctionNames not declared: {', '.join(sorted(map(str, unknown)))}")
    if mode in ("AUTO", "MODE_UNSPECIFIED"):
        return "auto", ()
    if mode == "NONE":
        return "none", ()
    if mode in ("ANY", "VALIDATED"):
        if not tools:
            raise WireError(400, "toolConfig: mode ANY needs functionDeclarations")
        return "required", allowed
    raise WireError(400, f"toolConfig: unknown mode {mode!r}: AUTO, ANY or NONE")


def gemini_history(contents: list[tuple[str | None, list[Any]]]) -> list[ChatMessage]:
    """Gemini contents as the internal conversation. ``functionCall`` parts become an assistant turn's calls
    (ids made up where the SDK sends none), ``functionResponse`` parts ``tool`` turns paired with their call by
    id, else by name with the oldest call of that name not answered yet (what google-genai's automatic
    function calling sends back)."""
    out: list[ChatMessage] = []
    open_calls: list[ToolCall] = []
    made = 0
    for i, (role, parts) in enumerate(contents):
        texts: list[str] = []
        calls: list[ToolCall] = []
        for j, part in enumerate(parts):
            kind, where = part.kind(), f"contents[{i}].parts[{j}]"
            if kind == "text" and not (part.model_extra or {}).get("thought"):
                texts.append(part.text or "")
            elif kind == "functionCall":
                fc = part.functionCall
                args = fc.get("args") if isinstance(fc.get("args"), dict) else {}
                if not isinstance(fc.get("name"), str):
                    raise WireError(400, f"{where}.functionCall: a call has a name")
                made += 1
                call = ToolCall(str(fc.get("id") or f"call_{made}"), fc["name"], json.dumps(args, ensure_ascii=False))
                calls.append(call)
                open_calls.append(call)
            elif kind == "functionResponse":
                out.append(_result(part.functionResponse, open_calls, where))
            elif kind not in ("empty", "text"):
                raise WireError(400, f"{where}: {kind} parts are not supported by this gateway: send text")
        if role == "model":
            out.append(ChatMessage("assistant", "".join(texts), tool_calls=tuple(calls)))
        elif texts:
            out.append(ChatMessage("user", "".join(texts)))
    return out


def _result(fr: dict[str, Any], open_calls: list[ToolCall], where: str) -> ChatMessage:
    name = fr.get("name")
    if not isinstance(name, str):
        raise WireError(400, f"{where}.functionResponse: a response names its function")
    given = fr.get("id")
    match = next((c for c in open_calls if c.id == given), None) if given else None
    match = match or next((c for c in open_calls if c.name == name), None)
    if match is not None:
        open_calls.remove(match)
    call_id = match.id if match else str(given or f"call_{name}")
    return ChatMessage("tool", json.dumps(fr.get("response", {}), ensure_ascii=False), tool_call_id=call_id, name=name)


def gemini_part(call: ToolCall) -> dict[str, Any]:
    """A ``functionCall`` part (its ``args`` an object; an unparseable one is never sent as a call)."""
    return {"functionCall": {"id": call.id, "name": call.name, "args": json.loads(call.arguments or "{}")}}


def parsed(call: ToolCall) -> bool:
    try:
        return isinstance(json.loads(call.arguments or "{}"), dict)
    except ValueError:
        return False
