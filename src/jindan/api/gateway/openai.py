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
from jindan.api.gateway.common import Failure, WireError
from jindan.llm.base import ChatMessage, Delta, GenOptions, Usage
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

    def text(self) -> str:
        if isinstance(self.content, list):
            if any(p.type != "text" for p in self.content):
                raise WireError(400, "only text content parts are supported", "unsupported_content", "messages")
            return "".join(p.text or "" for p in self.content)
        return self.content or ""


class SchemaSpec(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    name: str = "answer"
    schema_: dict[str, Any] | None = Field(None, alias="schema")


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: SchemaSpec | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # accepted and ignored: user, top_p, logit_bias, ...
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
    n: int = Field(1, ge=1, le=1, description="Only one choice per request.")
    tools: list[Any] | None = None


class EmbedIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)


def to_router(body: ChatIn, settings: Settings) -> tuple[str, list[ChatMessage], GenOptions]:
    """The route, messages and options an OpenAI chat request asks for."""
    route = common.chat_route(settings, body.model)
    if body.tools:
        raise WireError(400, "tools / function calling are not supported by this gateway", "unsupported", "tools")
    messages = []
    for m in body.messages:
        if m.role in ("tool", "function"):
            raise WireError(400, "tool messages are not supported by this gateway", "unsupported", "messages")
        messages.append(ChatMessage("system" if m.role == "developer" else m.role, m.text()))  # type: ignore[arg-type]
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if len(stop) > 4:
        raise WireError(400, "at most 4 stop sequences", "invalid_value", "stop")
    schema: dict[str, Any] | None = None
    if body.response_format and body.response_format.type == "json_object":
        schema = {"type": "object"}
    elif body.response_format and body.response_format.type == "json_schema":
        spec = body.response_format.json_schema
        if spec is None or spec.schema_ is None:
            raise WireError(400, "response_format json_schema needs json_schema.schema", "invalid_value",
                            "response_format")  # fmt: skip
        schema = spec.schema_
    opts = GenOptions(
        temperature=settings.llm.temperature if body.temperature is None else body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens or settings.llm.max_tokens,
        json_schema=schema,
        stop=tuple(stop),
        seed=body.seed,
    )
    return route, messages, opts


def usage_body(messages: list[ChatMessage], usage: Usage | None) -> dict[str, int]:
    prompt, completion = common.tokens(messages, usage)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(model: str, answer: common.Answer, messages: list[ChatMessage]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": f"jindan:{answer.provider}/{answer.model}",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "logprobs": None,
                "finish_reason": common.finish_reason(answer.usage),
            }
        ],
        "usage": usage_body(messages, answer.usage),
    }


async def chunks(
    model: str, events: AsyncIterator[RouterEvent], messages: list[ChatMessage], include_usage: bool
) -> AsyncIterator[str]:
    """SSE lines: a role chunk, one chunk per delta, the finish chunk, the usage chunk when asked, [DONE]."""
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model}  # fmt: skip

    def line(choices: list[dict[str, Any]], **extra: Any) -> str:
        return "data: " + json.dumps({**head, "choices": choices, **extra}, ensure_ascii=False) + "\n\n"

    yield line([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    async for event in events:
        if isinstance(event, Delta):
            yield line([{"index": 0, "delta": {"content": event.text}, "finish_reason": None}])
        elif isinstance(event, StreamError):
            failure = Failure(503, f"the answer broke off ({event.provider}); ask again", "answer_interrupted")
            yield "data: " + json.dumps(error_body(failure)) + "\n\n"
            break
        elif isinstance(event, Usage):
            yield line([{"index": 0, "delta": {}, "finish_reason": common.finish_reason(event)}])
            if include_usage:
                yield line([], usage=usage_body(messages, event))
    yield "data: [DONE]\n\n"


@router.post("/chat/completions", dependencies=[require("ai.chat")], responses=common.SSE)
async def chat_completions(body: ChatIn, settings: SettingsDep, llm: RouterDep) -> Any:
    """OpenAI chat completions, answered by the jindan route the model name maps to."""
    route, messages, opts = to_router(body, settings)
    events = await common.start(llm, route, messages, opts)
    if body.stream:
        include = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(chunks(body.model, events, messages, include), media_type="text/event-stream")
    return completion(body.model, await common.collect(events), messages)


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
