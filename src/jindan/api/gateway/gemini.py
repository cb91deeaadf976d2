"""Gemini's wire format, at the paths the ``google-genai`` SDK calls when its base URL points at jindan.

``POST /{v1|v1beta}/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``, ``:batchEmbedContents``
(what ``client.models.embed_content`` calls) and ``:embedContent`` (older clients); ``GET /v1beta/models`` and
``/v1beta/models/{model}`` (``client.models.list`` and ``.get``; under ``/v1`` those two paths are OpenAI's).
The SDK sends its key in ``x-goog-api-key``: a jindan service key or platform JWT goes there. Errors are
``{"error": {code, message, status}}``; a stream that breaks after text ends with one ``data: {"error": ...}``
event (the SDK raises it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from jindan.api.deps import RouterDep, SettingsDep, require
from jindan.api.gateway import common
from jindan.api.gateway import tools as gw_tools
from jindan.api.gateway.common import Failure, WireError
from jindan.llm import structured
from jindan.llm.base import ChatMessage, Delta, GenOptions, ToolCall, ToolCallDelta, Usage
from jindan.llm.router import RouterEvent, StreamError
from jindan.llm.tools import ToolCalls
from jindan.settings import Settings

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}  # fmt: skip
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}
Version = Literal["v1", "v1beta"]


def error_body(f: Failure) -> dict[str, Any]:
    return {"error": {"code": f.status, "message": f.message, "status": STATUS.get(f.status, "INTERNAL")}}


class ErrorDetail(BaseModel):
    code: int
    message: str
    status: str


class ErrorOut(BaseModel):
    error: ErrorDetail


router = APIRouter(
    tags=["gateway: Gemini"], route_class=common.wire_route(error_body), responses=common.documented(ErrorOut)
)


class Part(BaseModel):
    model_config = ConfigDict(extra="allow")  # thought, thoughtSignature, ... accepted
    text: str | None = None
    functionCall: dict[str, Any] | None = None
    functionResponse: dict[str, Any] | None = None

    def kind(self) -> str:
        """What the part carries: text, functionCall, functionResponse, or the name of what is not supported."""
        if self.functionCall is not None:
            return "functionCall"
        if self.functionResponse is not None:
            return "functionResponse"
        if self.text is not None:
            return "text"
        other = [k for k, v in (self.model_extra or {}).items() if v is not None and not k.startswith("thought")]
        return other[0] if other else "empty"

    def only_text(self) -> str:
        if self.kind() != "text":
            raise WireError(400, f"{self.kind()} parts are not supported here: only text parts")
        return self.text or ""


class Content(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["user", "model", "function", "tool"] | None = None
    parts: list[Part] = Field(min_length=1, max_length=100)

    def text(self) -> str:
        return "".join(p.only_text() for p in self.parts)


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="allow")  # topP, topK, ... accepted and ignored
    temperature: float | None = Field(None, ge=0, le=2)
    maxOutputTokens: int | None = Field(None, ge=1, le=32768)  # the wire's own (camelCase) names
    stopSequences: list[str] | None = Field(None, max_length=5)
    seed: int | None = None
    candidateCount: int = Field(1, ge=1, le=1)
    responseMimeType: str | None = None
    responseSchema: dict[str, Any] | None = None
    responseJsonSchema: dict[str, Any] | None = None
    responseLogprobs: bool | None = None
    logprobs: int | None = None
    responseModalities: list[str] | None = None


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # safetySettings, ... accepted and ignored
    contents: list[Content] = Field(min_length=1, max_length=200)
    systemInstruction: Content | None = None
    generationConfig: GenerationConfig | None = None
    tools: list[Any] | None = None
    toolConfig: dict[str, Any] | None = None


class EmbedOne(BaseModel):
    model_config = ConfigDict(extra="allow")
    content: Content
    taskType: str | None = None
    outputDimensionality: int | None = Field(None, ge=1)


class BatchEmbedIn(BaseModel):
    requests: list[EmbedOne] = Field(min_length=1, max_length=2048)


def to_router(body: GenerateIn, model: str, settings: Settings) -> tuple[str, list[ChatMessage], GenOptions]:
    route = common.chat_route(settings, model)
    tools = gw_tools.gemini_tools(body.tools)
    choice, allowed = gw_tools.gemini_choice(body.toolConfig, tools)
    messages = [ChatMessage("system", body.systemInstruction.text())] if body.systemInstruction else []
    messages += gw_tools.gemini_history([(c.role, c.parts) for c in body.contents])
    cfg = body.generationConfig or GenerationConfig()
    if cfg.responseLogprobs or cfg.logprobs:
        raise WireError(400, "generationConfig.responseLogprobs: log probabilities are not available from this "
                        "gateway: leave them unset")  # fmt: skip
    if any(m.upper() not in ("TEXT", "MODALITY_UNSPECIFIED") for m in cfg.responseModalities or ()):
        raise WireError(400, "generationConfig.responseModalities: this gateway answers with TEXT only")
    schema = cfg.responseJsonSchema or (structured.from_gemini(cfg.responseSchema) if cfg.responseSchema else None)
    if schema is None and cfg.responseMimeType == "application/json":
        schema = {"type": "object"}
    if schema is not None:
        try:
            structured.check(schema)
        except structured.SchemaError as exc:
            raise WireError(400, f"generationConfig.responseSchema: {exc}") from None
    opts = GenOptions(
        temperature=settings.llm.temperature if cfg.temperature is None else cfg.temperature,
        max_tokens=cfg.maxOutputTokens or settings.llm.max_tokens,
        json_schema=schema,
        stop=tuple(cfg.stopSequences or ()),
        seed=cfg.seed,
        tools=tools,
        tool_choice=choice,
        allowed=allowed,
    )
    return route, messages, opts


def candidate(
    text: str, calls: Sequence[ToolCall] = (), usage: Usage | None = None, *, last: bool = False
) -> dict[str, Any]:
    """One candidate: its text, the calls whose arguments parse (a call cut by the token limit is never sent as
    one: the finish reason says MAX_TOKENS), and on the last event why the answer ended."""
    parts: list[dict[str, Any]] = [{"text": text}] if text or not calls else []
    parts += [gw_tools.gemini_part(c) for c in calls if gw_tools.parsed(c)]
    c: dict[str, Any] = {"content": {"parts": parts or [{"text": ""}], "role": "model"}, "index": 0}
    if last:
        c["finishReason"] = FINISH[common.finish_reason(usage, bool(calls))]
    return c


def usage_body(messages: list[ChatMessage], usage: Usage | None) -> dict[str, int]:
    prompt, completion = common.tokens(messages, usage)
    return {"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion}


def response(model: str, answer: common.Answer, messages: list[ChatMessage]) -> dict[str, Any]:
    return {
        "candidates": [candidate(answer.text, answer.calls, answer.usage, last=True)],
        "usageMetadata": usage_body(messages, answer.usage),
        "modelVersion": model,
        "responseId": uuid.uuid4().hex,
    }


async def events_sse(model: str, events: AsyncIterator[RouterEvent], messages: list[ChatMessage]) -> AsyncIterator[str]:
    """One SSE event per delta; the last carries finishReason and usageMetadata; a break is an error event."""
    rid = uuid.uuid4().hex

    def line(body: dict[str, Any]) -> str:
        return f"data: {json.dumps({**body, 'modelVersion': model, 'responseId': rid}, ensure_ascii=False)}\r\n\r\n"

    calls = ToolCalls()  # sent whole, in the last event (Gemini streams a call as one part)
    async for event in events:
        if isinstance(event, Delta):
            yield line({"candidates": [candidate(event.text)]})
        elif isinstance(event, ToolCallDelta):
            calls.add(event)
        elif isinstance(event, StreamError):
            broken = Failure(503, f"the answer broke off ({event.provider}); ask again")
            yield f"data: {json.dumps(error_body(broken))}\r\n\r\n"
            return
        elif isinstance(event, Usage):
            last = candidate("", calls.calls(), event, last=True)
            yield line({"candidates": [last], "usageMetadata": usage_body(messages, event)})


def _version(version: str) -> None:
    if version not in ("v1", "v1beta"):
        raise WireError(404, f"unknown API version {version!r}: use v1 or v1beta")


@router.post("/{version}/models/{model}:generateContent", dependencies=[require("ai.chat")])
async def generate(version: str, model: str, body: GenerateIn, settings: SettingsDep, llm: RouterDep) -> Any:
    """Gemini generateContent, answered by the jindan route the model name maps to."""
    _version(version)
    route, messages, opts = to_router(body, model, settings)
    answer = await common.collect(await common.start(llm, route, messages, opts))
    return response(model, answer, messages)


@router.post("/{version}/models/{model}:streamGenerateContent", dependencies=[require("ai.chat")], responses=common.SSE)
async def stream_generate(
    version: str, model: str, body: GenerateIn, request: Request, settings: SettingsDep, llm: RouterDep
) -> Any:
    """Gemini streamGenerateContent as Server-Sent Events (``?alt=sse``, as the SDK asks)."""
    _version(version)
    if request.query_params.get("alt") != "sse":
        raise WireError(400, "streaming is served as Server-Sent Events only: add ?alt=sse")
    route, messages, opts = to_router(body, model, settings)
    events = await common.start(llm, route, messages, opts)
    return StreamingResponse(events_sse(model, events, messages), media_type="text/event-stream")


def task_kind(task: str | None) -> Literal["query", "passage"]:
    return "passage" if task == "RETRIEVAL_DOCUMENT" else "query"


async def _vectors(request: Request, items: list[EmbedOne]) -> list[list[float]]:
    out: list[list[float]] = [[] for _ in items]
    for kind in ("query", "passage"):  # one embedder call per kind of text, in the request's order
        idx = [i for i, it in enumerate(items) if task_kind(it.taskType) == kind]
        if idx:
            vectors = await common.embed(request, [items[i].content.text() for i in idx], kind)
            for i, v in zip(idx, vectors, strict=True):
                want = items[i].outputDimensionality
                if want is not None and want != len(v):
                    raise WireError(400, f"this model answers with {len(v)} dimensions")
                out[i] = [float(x) for x in v]
    return out


@router.post("/{version}/models/{model}:batchEmbedContents", dependencies=[require("ai.embed")])
async def batch_embed(version: str, model: str, body: BatchEmbedIn, request: Request, settings: SettingsDep) -> Any:
    """What ``client.models.embed_content`` calls: one vector per request, from jindan's embedder."""
    _version(version)
    common.embed_model(settings, model)
    return {"embeddings": [{"values": v} for v in await _vectors(request, body.requests)]}


@router.post("/{version}/models/{model}:embedContent", dependencies=[require("ai.embed")])
async def embed(version: str, model: str, body: EmbedOne, request: Request, settings: SettingsDep) -> Any:
    """The single-text embedding call of older Gemini clients."""
    _version(version)
    common.embed_model(settings, model)
    (values,) = await _vectors(request, [body])
    return {"embedding": {"values": values}}


def model_resource(name: str, route: str) -> dict[str, Any]:
    methods = ["embedContent", "batchEmbedContents"] if route == "embed" else ["generateContent"]
    return {
        "name": f"models/{name}",
        "baseModelId": name,
        "version": "jindan",
        "displayName": name,
        "description": f"answered by the jindan route {route!r}",
        "supportedGenerationMethods": methods,
    }


@router.get("/{version}/models", dependencies=[require("ai.chat")])
async def list_models(version: str, settings: SettingsDep) -> Any:
    """The model names this gateway answers (the ``gateway.models`` map), as Gemini's ``models.list``."""
    _version(version)
    return {"models": [model_resource(n, r) for n, r in settings.gateway.models.items()]}


@router.get("/{version}/models/{model}", dependencies=[require("ai.chat")])
async def get_model(version: str, model: str, settings: SettingsDep) -> Any:
    _version(version)
    return model_resource(model, common.target(settings, model))
