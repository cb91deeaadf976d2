"""OpenAI's wire format: POST /v1/chat/completions (streamed or not), POST /v1/embeddings, GET /v1/models.

A call site written for the ``openai`` SDK moves by changing ``base_url`` to ``http://jindan/v1`` and the key to
a jindan service key (or a platform JWT). Model names are mapped to routes by ``gateway.models``. Errors come
back as ``{"error": {message, type, param, code}}`` with OpenAI's status codes, so the SDK raises its own
exception classes; a stream that breaks after text ends with one ``data: {"error": ...}`` line (the SDK raises
``APIError``), never as a short answer that looks complete.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from jindan.api.deps import RouterDep, SettingsDep, require
from jindan.api.gateway import common
from jindan.api.gateway import tools as gw_tools
from jindan.api.gateway.common import Failure, WireError
from jindan.llm import structured
from jindan.llm.base import ChatMessage, Delta, GenOptions, ToolCallDelta, Usage
from jindan.llm.router import RouterEvent, StreamError
from jindan.rag.prompt import estimate_tokens
from jindan.settings import Settings

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "invalid_request_error", 429: "rate_limit_error"}  # fmt: skip
CODES = {401: "invalid_api_key", 403: "permission_denied", 404: "not_found", 429: "rate_limit_exceeded",
         503: "service_unavailable"}  # fmt: skip


def error_body(f: Failure) -> dict[str, Any]:
    kind = TYPES.get(f.status, "server_error" if f.status >= 500 else "invalid_request_error")
    return {"error": {"message": f.message, "type": kind, "param": f.param, "code": f.code or CODES.get(f.status)}}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorOut(BaseModel):
    error: ErrorDetail


router = APIRouter(
    prefix="/v1",
    tags=["gateway: OpenAI"],
    route_class=common.wire_route(error_body),
    responses=common.documented(ErrorOut),
)


class Part(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[Any] | None = None  # assistant: the calls it made
    tool_call_id: str | None = None  # tool: the call this result answers
    function_call: Any = None  # assistant, older form

    def text(self, i: int) -> str:
        if isinstance(self.content, list):
            for j, p in enumerate(self.content):
                if p.type not in ("text", "input_text"):
                    where = f"messages[{i}].content[{j}]"
                    raise WireError(400, f"{where}: {p.type} parts are not supported by this gateway: send text",
                                    "unsupported_content", where)  # fmt: skip
            return "".join(p.text or "" for p in self.content)
        return self.content or ""


class SchemaSpec(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    name: str = "answer"
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: SchemaSpec | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # other fields (service_tier, top_p, ...) accepted, ignored
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=200)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    stop: str | list[str] | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1, description="Only one choice per request.")
    logprobs: bool | None = Field(None, description="Not available: true is refused.")
    top_logprobs: int | None = Field(None, ge=0, le=20)
    modalities: list[str] | None = Field(None, description="Only text: audio answers are refused.")
    user: str | None = Field(None, max_length=512, description="Accepted and ignored.")
    metadata: dict[str, str] | None = Field(None, description="Accepted and ignored (never stored).")
    store: bool | None = Field(None, description="Accepted and ignored: nothing is stored for later retrieval.")
    reasoning_effort: str | None = Field(None, max_length=20, description="Accepted and ignored.")
    tools: list[Any] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    functions: list[Any] | None = None  # the older form of tools
    function_call: Any = None


class EmbedIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


def to_router(body: ChatIn, settings: Settings) -> tuple[str, list[ChatMessage], GenOptions]:
    """The route, messages and options an OpenAI chat request asks for."""
    route = common.chat_route(settings, body.model)
    if body.n not in (None, 1):
        raise WireError(400, "n: one choice per request here (n=1); send several requests for more",
                        "invalid_value", "n")  # fmt: skip
    if body.logprobs or body.top_logprobs:
        param = "logprobs" if body.logprobs else "top_logprobs"
        raise WireError(400, f"{param}: log probabilities are not available from this gateway: leave it unset",
                        "unsupported_parameter", param)  # fmt: skip
    if any(m != "text" for m in body.modalities or ()):
        raise WireError(400, "modalities: this gateway answers with text only", "unsupported_parameter", "modalities")
    tools = gw_tools.openai_tools(body.tools, body.functions)
    choice, allowed = gw_tools.openai_choice(body.tool_choice, body.function_call, tools)
    messages = history(body.messages)
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > 4:
        raise WireError(400, "at most 4 stop sequences", "invalid_value", "stop")
    opts = GenOptions(
        temperature=settings.llm.temperature if body.temperature is None else body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens or settings.llm.max_tokens,
        json_schema=schema_of(body.response_format),
        stop=tuple(stop),
        seed=body.seed,
        tools=tools,
        tool_choice=choice,
        allowed=allowed,
        # the older ``functions`` form has one function_call per answer: never several at once
        parallel_tool_calls=body.parallel_tool_calls is not False and not (body.functions and not body.tools),
    )
    return route, messages, opts


def history(wire: list[Message]) -> list[ChatMessage]:
    """The conversation in the internal form: tool calls on assistant turns, results as ``tool`` turns."""
    messages: list[ChatMessage] = []
    names: dict[str, str] = {}  # call id -> function name, for results that do not repeat it
    for i, m in enumerate(wire):
        text = m.text(i)
        if m.role == "assistant":
            calls = gw_tools.openai_calls(m.tool_calls, m.function_call, f"messages[{i}]")
            names.update((c.id, c.name) for c in calls)
            messages.append(ChatMessage("assistant", text, tool_calls=calls))
        elif m.role == "tool":
            if not m.tool_call_id:
                raise WireError(400, f"messages[{i}].tool_call_id: a tool result names the call it answers",
                                "invalid_value", f"messages[{i}].tool_call_id")  # fmt: skip
            messages.append(ChatMessage("tool", text, tool_call_id=m.tool_call_id,
                                        name=m.name or names.get(m.tool_call_id)))  # fmt: skip
        elif m.role == "function":  # the older form of a tool result
            messages.append(ChatMessage("tool", text, tool_call_id=f"call_{m.name}", name=m.name))
        else:
            messages.append(ChatMessage("system" if m.role == "developer" else m.role, text))
    return messages


def schema_of(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise WireError(400, "response_format json_schema needs json_schema.schema", "invalid_value",
                        "response_format")  # fmt: skip
    schema = fmt.json_schema.schema_
    try:
        structured.check(schema)
    except structured.SchemaError as exc:
        raise WireError(400, f"response_format.json_schema.schema: {exc}", "invalid_value", "response_format") from None
    return schema


def usage_body(messages: list[ChatMessage], usage: Usage | None) -> dict[str, int]:
    prompt, completion = common.tokens(messages, usage)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(model: str, answer: common.Answer, messages: list[ChatMessage], legacy: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text if answer.text or not answer.calls else None}
    reason: str = common.finish_reason(answer.usage, bool(answer.calls))
    if answer.calls:
        message.update(gw_tools.openai_out(answer.calls, legacy))
        reason = "function_call" if legacy and reason == "tool_calls" else reason
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": f"jindan:{answer.provider}/{answer.model}",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reason}],
        "usage": usage_body(messages, answer.usage),
    }


def call_delta(event: ToolCallDelta, legacy: bool) -> dict[str, Any]:
    """A streamed piece of a tool call, as the SDK assembles it (by index; id and name in the first piece)."""
    function: dict[str, Any] = {"arguments": event.arguments}
    if event.name is not None:
        function["name"] = event.name
    if legacy:
        return {"function_call": function}
    piece: dict[str, Any] = {"index": event.index, "function": function}
    if event.id is not None:
        piece.update(id=event.id, type="function")
    return {"tool_calls": [piece]}


async def chunks(
    model: str, events: AsyncIterator[RouterEvent], messages: list[ChatMessage], include_usage: bool, legacy: bool
) -> AsyncIterator[str]:
    """SSE lines: the first delta with the role, one chunk per text or call piece, the finish chunk, the usage
    chunk when asked, [DONE]."""
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}  # fmt: skip
    role: dict[str, Any] = {"role": "assistant"}  # sent with the first piece, then never again
    called = False

    def line(choices: list[dict[str, Any]], **extra: Any) -> str:
        return "data: " + json.dumps({**head, "choices": choices, **extra}, ensure_ascii=False) + "\n\n"

    def delta(body: dict[str, Any]) -> str:
        nonlocal role
        body, role = {**role, **body}, {}
        return line([{"index": 0, "delta": body, "logprobs": None, "finish_reason": None}])

    async for event in events:
        if isinstance(event, Delta):
            yield delta({"content": event.text})
        elif isinstance(event, ToolCallDelta):
            called = True
            yield delta({"content": None, **call_delta(event, legacy)} if role else call_delta(event, legacy))
        elif isinstance(event, StreamError):
            failure = Failure(503, f"the answer broke off ({event.provider}); ask again", "answer_interrupted")
            yield "data: " + json.dumps(error_body(failure)) + "\n\n"
            break
        elif isinstance(event, Usage):
            if role:
                yield delta({"content": ""})
            reason: str = common.finish_reason(event, called)
            reason = "function_call" if legacy and reason == "tool_calls" else reason
            yield line([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}])
            if include_usage:
                yield line([], usage=usage_body(messages, event))
    yield "data: [DONE]\n\n"


@router.post("/chat/completions", dependencies=[require("ai.chat")], responses=common.SSE)
async def chat_completions(body: ChatIn, settings: SettingsDep, llm: RouterDep) -> Any:
    """OpenAI chat completions, answered by the jindan route the model name maps to."""
    route, messages, opts = to_router(body, settings)
    legacy = bool(body.functions) and not body.tools
    events = await common.start(llm, route, messages, opts)
    if body.stream:
        include = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(chunks(body.model, events, messages, include, legacy), media_type="text/event-stream")
    return completion(body.model, await common.collect(events), messages, legacy)


def inputs(body: EmbedIn) -> list[str]:
    if isinstance(body.input, str):
        return [body.input]
    if any(not isinstance(x, str) for x in body.input):
        raise WireError(400, "token arrays are not supported: send the input as text", "invalid_value", "input")
    if len(body.input) > 2048:
        raise WireError(400, "at most 2048 inputs per request", "invalid_value", "input")
    return [str(x) for x in body.input]


@router.post("/embeddings", dependencies=[require("ai.embed")])
async def embeddings(body: EmbedIn, request: Request, settings: SettingsDep) -> Any:
    """Embeddings from jindan's embedder (its dimension; `dimensions` must match it), float or base64."""
    common.embed_model(settings, body.model)
    texts = inputs(body)
    vectors = await common.embed(request, texts, "query")
    if body.dimensions is not None and body.dimensions != vectors.shape[1]:
        raise WireError(400, f"this model answers with {vectors.shape[1]} dimensions", "invalid_value", "dimensions")
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.astype("<f4").tobytes()).decode()
            if body.encoding_format == "base64"
            else [float(x) for x in v],
        }
        for i, v in enumerate(vectors)
    ]
    used = sum(estimate_tokens(t) for t in texts)
    return {"object": "list", "data": data, "model": body.model, "usage": {"prompt_tokens": used, "total_tokens": used}}


def model_card(name: str, route: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": f"jindan:{route}"}


@router.get("/models", dependencies=[require("ai.chat")])
async def models(settings: SettingsDep) -> Any:
    """The model names this gateway answers (the `gateway.models` map) and the route behind each."""
    return {"object": "list", "data": [model_card(n, r) for n, r in settings.gateway.models.items()]}


@router.get("/models/{model}", dependencies=[require("ai.chat")])
async def model(model: str, settings: SettingsDep) -> Any:
    return model_card(model, common.target(settings, model))
