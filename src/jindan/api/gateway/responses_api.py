"""OpenAI's Responses API: POST /v1/responses (streamed or not), as ``client.responses.create / stream / parse``,
LangChain's ``ChatOpenAI(use_responses_api=True)`` and the OpenAI Agents SDK send it.

A request is translated into the chat completions request it amounts to (``input`` items to messages, flat
function tools to chat tools, ``text.format`` to ``response_format``, ``max_output_tokens`` to
``max_completion_tokens``) and answered by the same path (``openai.to_router``: one router, the same tool calls
and grammar-constrained structured output); the answer comes back as a Response object (``responses_out``).
Nothing is stored: ``previous_response_id`` and stored conversations are refused with a 400 that says to send the
whole input, as a tool loop of the Agents SDK or LangChain does anyway.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jindan.api.deps import RouterDep, SettingsDep, require
from jindan.api.gateway import common, responses_out
from jindan.api.gateway import openai as chat_wire
from jindan.api.gateway.common import WireError
from jindan.llm import structured

router = APIRouter(
    prefix="/v1",
    tags=["gateway: OpenAI"],
    route_class=common.wire_route(chat_wire.error_body),
    responses=common.documented(chat_wire.ErrorOut),
)

ROLES = ("user", "system", "developer", "assistant")
TEXT_PARTS = ("input_text", "output_text", "text")


TEXT: dict[str, Any] = {"type": "string", "maxLength": 4000}
NAME: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}
OBJECT: dict[str, Any] = {"type": "object", "properties": {"type": {"const": "object"}}, "required": ["type"],
                          "additionalProperties": False}  # fmt: skip


def _doc(prop: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if k in ("description", "title")}


def _schema(schema: dict[str, Any]) -> None:
    """What the route refuses with a 400, said in the schema (for clients and schema tests): a non-empty input of
    text messages and function_call_output items, function tools, the stateful parameters left unset."""
    props = schema["properties"]
    message = {"type": "object", "properties": {"type": {"const": "message"}, "role": {"enum": list(ROLES)},
                                                "content": TEXT}, "required": ["role", "content"]}  # fmt: skip
    result = {"type": "object", "properties": {"type": {"const": "function_call_output"}, "output": TEXT,
                                               "call_id": {"type": "string", "minLength": 1, "maxLength": 64}},
              "required": ["type", "call_id", "output"]}  # fmt: skip
    items = {"type": "array", "minItems": 1, "maxItems": 100, "items": {"anyOf": [message, result]}}
    props["input"] = {"anyOf": [TEXT, items], **_doc(props["input"])}
    tool = {"type": "object", "properties": {"type": {"const": "function"}, "name": NAME, "description": TEXT,
                                             "parameters": OBJECT, "strict": {"type": "boolean"}},
            "required": ["type", "name"], "additionalProperties": False}  # fmt: skip
    props["tools"] = {"type": "array", "maxItems": 128, "items": tool, **_doc(props["tools"])}
    plain = {"type": "object", "properties": {"type": {"enum": ["text", "json_object"]}}, "required": ["type"],
             "additionalProperties": False}  # fmt: skip
    shaped = {"type": "object", "properties": {"type": {"const": "json_schema"}, "name": NAME, "schema": OBJECT,
                                               "strict": {"type": "boolean"}, "description": TEXT},
              "required": ["type", "schema"], "additionalProperties": False}  # fmt: skip
    props["text"] = {"type": "object", "properties": {"format": {"anyOf": [plain, shaped]}}}
    for name in ("previous_response_id", "conversation", "prompt"):
        props[name] = {"type": "null", **_doc(props[name])}
    props["background"] = {"anyOf": [{"const": False}, {"type": "null"}], **_doc(props["background"])}
    props["top_logprobs"] = {"anyOf": [{"const": 0}, {"type": "null"}], **_doc(props["top_logprobs"])}


class TextFormat(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: str
    name: str | None = Field(None, max_length=64)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = None


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    format: TextFormat | None = None
    verbosity: str | None = None


class ResponsesIn(BaseModel):
    model_config = ConfigDict(
        extra="allow", json_schema_extra=_schema
    )  # service_tier, prompt_cache_key, safety_identifier, ... ignored
    model: str = Field(min_length=1, max_length=200)
    input: str | list[dict[str, Any]] = Field(description="A string (one user message) or a list of items.")
    instructions: str | None = Field(None, description="A system message put before the input.")
    tools: list[Any] | None = Field(None, max_length=128, description="Function tools (name/parameters/strict).")
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1, description="Accepted and ignored.")
    stream: bool = False
    previous_response_id: str | None = Field(None, description="Refused: nothing is stored; send the whole input.")
    conversation: Any = Field(None, description="Refused: nothing is stored; send the whole input.")
    prompt: Any = Field(None, description="Refused: stored prompts are not available here.")
    background: bool | None = Field(None, description="Refused when true: answers are returned, not stored.")
    top_logprobs: int | None = Field(None, ge=0, le=20, description="Refused above 0.")
    include: list[str] | None = Field(None, description="Accepted and ignored.")
    metadata: dict[str, Any] | None = Field(None, description="Accepted and ignored (never stored).")
    user: str | None = Field(None, max_length=512, description="Accepted and ignored.")
    store: bool | None = Field(None, description="Accepted and ignored: nothing is stored for later retrieval.")
    reasoning: Any = Field(None, description="Accepted and ignored.")
    truncation: str | None = Field(None, max_length=20, description="Accepted and ignored.")


def refuse_unsupported(body: ResponsesIn) -> None:
    """The parameters that need state or output this gateway does not keep or make."""
    for param in ("previous_response_id", "conversation"):
        if getattr(body, param):
            raise WireError(400, f"{param}: responses are not stored here; send the whole conversation in input "
                            "(earlier messages, function_call and function_call_output items)",
                            "unsupported_parameter", param)  # fmt: skip
    if body.prompt:
        raise WireError(400, "prompt: stored prompts are not available here; send instructions and input",
                        "unsupported_parameter", "prompt")  # fmt: skip
    if body.background:
        raise WireError(400, "background: answers are returned, not stored; leave it unset",
                        "unsupported_parameter", "background")  # fmt: skip
    if body.top_logprobs:
        raise WireError(400, "top_logprobs: log probabilities are not available from this gateway: leave it unset",
                        "unsupported_parameter", "top_logprobs")  # fmt: skip


def text_of(content: Any, where: str) -> str:
    """The text of a message's content (a string or text parts); any other part is refused by name."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise WireError(400, f"{where}: content is a string or a list of parts", "invalid_value", where)
    texts: list[str] = []
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            texts.append(part["refusal"])
        else:
            raise WireError(400, f"{here}: {kind or 'untyped'} parts are not supported by this gateway: send text "
                            "(input_text)", "unsupported_content", here)  # fmt: skip
    return "".join(texts)


def _call(item: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str):
        raise WireError(400, f"{where}: a function_call item has call_id, name and arguments", "invalid_value", where)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": item.get("arguments")}}


def messages_of(body: ResponsesIn) -> list[dict[str, Any]]:
    """The conversation as chat messages: ``instructions`` first, function_call items on the assistant turn
    before them, function_call_output items as ``tool`` turns; reasoning items (never made here) skipped."""
    out: list[dict[str, Any]] = [{"role": "system", "content": body.instructions}] if body.instructions else []
    items = [{"role": "user", "content": body.input}] if isinstance(body.input, str) else body.input
    if not items:
        raise WireError(400, "input: send at least one message", "invalid_value", "input")
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ROLES:
                raise WireError(400, f"{where}.role: one of {', '.join(ROLES)} (got {role!r})", "invalid_value",
                                f"{where}.role")  # fmt: skip
            out.append({"role": role, "content": text_of(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            call = _call(item, where)
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or not call_id:
                raise WireError(400, f"{where}.call_id: a function_call_output names the call it answers",
                                "invalid_value", f"{where}.call_id")  # fmt: skip
            text = output if isinstance(output, str) else text_of(output, f"{where}.output")
            out.append({"role": "tool", "tool_call_id": call_id, "content": text})
        elif kind == "reasoning":
            continue
        elif kind == "item_reference":
            raise WireError(400, f"{where}: item references need stored responses, which this gateway does not "
                            "keep; send the item itself", "unsupported_content", where)  # fmt: skip
        else:
            raise WireError(400, f"{where}: {kind or 'untyped'} items are not supported by this gateway: send "
                            "messages, function_call and function_call_output items", "unsupported_content",
                            where)  # fmt: skip
    return out


def tools_of(raw: list[Any] | None) -> list[dict[str, Any]] | None:
    """Flat Responses function tools as chat tools; hosted tools (web search, files, ...) refused by index."""
    if raw is None:
        return None
    out: list[dict[str, Any]] = []
    for i, t in enumerate(raw):
        kind = t.get("type", "function") if isinstance(t, dict) else type(t).__name__
        if kind != "function" or not isinstance(t, dict):
            raise WireError(400, f"tools[{i}]: only function tools are supported by this gateway (got {kind!r})",
                            "unsupported_tool", f"tools[{i}]")  # fmt: skip
        spec = t["function"] if isinstance(t.get("function"), dict) and "name" not in t else t  # chat form too
        out.append({"type": "function", "function": {k: spec.get(k) for k in ("name", "description", "parameters")}})
    return out


def choice_of(choice: Any) -> Any:
    """``tool_choice`` in the chat form: a flat ``{"type": "function", "name"}`` and ``allowed_tools``."""
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return {"type": "allowed_tools", "allowed_tools": {"mode": choice.get("mode", "auto"),
                                                           "tools": choice.get("tools") or []}}  # fmt: skip
    raise WireError(400, "tool_choice: auto, none, required, {'type': 'function', 'name': ...} or allowed_tools "
                    "(hosted tools are not available here)", "invalid_value", "tool_choice")  # fmt: skip


def format_of(text: TextConfig | None) -> dict[str, Any] | None:
    fmt = text.format if text is not None else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.type != "json_schema":
        raise WireError(400, f"text.format.type: text, json_object or json_schema (got {fmt.type!r})",
                        "invalid_value", "text.format.type")  # fmt: skip
    if fmt.schema_ is None:
        raise WireError(400, "text.format: json_schema needs a schema", "invalid_value", "text.format.schema")
    try:
        structured.check(fmt.schema_)
    except structured.SchemaError as exc:
        raise WireError(400, f"text.format.schema: {exc}", "invalid_value", "text.format.schema") from None
    return {"type": "json_schema", "json_schema": {"name": fmt.name or "answer", "schema": fmt.schema_,
                                                   "strict": fmt.strict}}  # fmt: skip


def to_chat(body: ResponsesIn) -> chat_wire.ChatIn:
    """The chat completions request a Responses request amounts to."""
    refuse_unsupported(body)
    wire: dict[str, Any] = {
        "model": body.model,
        "messages": messages_of(body),
        "temperature": body.temperature,
        "max_completion_tokens": body.max_output_tokens,
        "response_format": format_of(body.text),
        "tools": tools_of(body.tools),
        "tool_choice": choice_of(body.tool_choice),
        "parallel_tool_calls": body.parallel_tool_calls,
    }
    try:
        return chat_wire.ChatIn.model_validate(wire)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]).replace("messages", "input", 1)
        raise WireError(400, f"{where}: {first['msg']}", "invalid_value", where or None) from None


@router.post("/responses", dependencies=[require("ai.chat")], responses=common.SSE)
async def create_response(body: ResponsesIn, settings: SettingsDep, llm: RouterDep) -> Any:
    """OpenAI's Responses API, answered by the jindan route the model name maps to (nothing is stored)."""
    common.chat_route(settings, body.model)  # an unknown model first: 404, as on chat completions
    route, messages, opts = chat_wire.to_router(to_chat(body), settings)
    head = responses_out.Head(body.model_dump(by_alias=True), f"resp_{uuid.uuid4().hex}", int(time.time()))
    events = await common.start(llm, route, messages, opts)
    if body.stream:
        return StreamingResponse(responses_out.stream(head, events, messages), media_type="text/event-stream")
    return responses_out.whole(head, await common.collect(events), messages)


@router.get("/responses/{response_id}", dependencies=[require("ai.chat")])
async def stored_response(response_id: str) -> Any:
    """Responses are not stored here (``store`` is ignored): always a 404 that says so."""
    raise WireError(404, f"response {response_id[:80]!r} was not stored: this gateway keeps no responses; keep the "
                    "one you were given", "not_found", "response_id")  # fmt: skip
