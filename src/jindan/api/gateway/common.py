"""What the OpenAI and Gemini wires share: the model map, the router's first event pulled before answering,
the answer of a non-streamed call, the embedder, and failures rendered in each wire's own error shape."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from jindan.api import errors
from jindan.domain.routes import ROUTES
from jindan.embed.base import Embedder
from jindan.llm.base import (
    CONTEXT_EXCEEDED,
    ChatMessage,
    Delta,
    GenOptions,
    RequestRejected,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from jindan.llm.router import Router, RouterEvent, Started, StreamError
from jindan.llm.tools import ToolCalls
from jindan.llm.traffic import CLIENT_MODEL
from jindan.rag.prompt import estimate_tokens
from jindan.settings import Settings

log = logging.getLogger("jindan.api.gateway")


class WireError(Exception):
    """A request the gateway refuses, with its HTTP status and (OpenAI) error code / parameter."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


@dataclass(frozen=True)
class Failure:
    status: int
    message: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] | None = None


def failure(exc: Exception) -> Failure:
    """Any exception as a wire failure: ours, FastAPI's (validation, 401/403/429 from the front door), or a
    domain exception through the service's one map (``api.errors``)."""
    if isinstance(exc, WireError):
        return Failure(exc.status, exc.message, exc.code, exc.param)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":  # its loc holds a character position, not a parameter
            ctx = first.get("ctx")
            why = ctx.get("error", "") if isinstance(ctx, dict) else ""
            return Failure(400, f"the body is not valid JSON: {why}", "invalid_json")
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        return Failure(400, f"{param}: {first['msg']}" if param else str(first["msg"]), "invalid_value", param)
    if isinstance(exc, HTTPException):
        return Failure(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None)
    if isinstance(exc, RequestRejected):  # too long for the model's context, a schema it cannot follow
        return Failure(400, str(exc), exc.code, "messages" if exc.code == CONTEXT_EXCEEDED else None)
    status, detail, headers = errors._status(exc)
    if status >= 500:
        log.error("gateway %s: %s: %s", status, type(exc).__name__, exc, exc_info=status == 500)
    return Failure(400 if status == 422 else status, detail, headers=headers)


STATUSES = {400: "invalid request", 401: "missing or invalid credentials", 403: "not allowed for this caller",
            404: "unknown model or API version", 413: "request body too large", 429: "rate limited (Retry-After)",
            503: "no model or embedder answered (Retry-After)"}  # fmt: skip
SSE: dict[int | str, dict[str, Any]] = {200: {"content": {"application/json": {}, "text/event-stream": {}}}}


def documented(model: type) -> dict[int | str, dict[str, Any]]:
    """The failures a gateway route can answer, for OpenAPI (clients and schema tests rely on it)."""
    return {status: {"model": model, "description": text} for status, text in STATUSES.items()}


def wire_route(render: Callable[[Failure], dict[str, Any]]) -> type[APIRoute]:
    """A route class whose every failure (dependencies included) is answered in one wire's error shape."""

    class WireRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            inner = super().get_route_handler()

            async def handler(request: Request) -> Response:
                try:
                    return await inner(request)
                except Exception as exc:
                    f = failure(exc)
                    return JSONResponse(render(f), status_code=f.status, headers=f.headers)

            return handler

    return WireRoute


def target(settings: Settings, model: str) -> str:
    """The route (explain, hint, diagnosis, chat) or ``embed`` that answers a model name."""
    found = settings.gateway.models.get(model) or (model if model in ROUTES else None)
    if found is None:
        raise WireError(404, f"The model {model!r} does not exist here; GET /v1/models lists them.", "model_not_found")
    return found


def chat_route(settings: Settings, model: str) -> str:
    """The route that answers a chat model name; the traffic counts of this request record that name."""
    route = target(settings, model)
    if route == "embed":
        raise WireError(400, f"{model!r} is an embedding model; it does not chat.", "invalid_model", "model")
    CLIENT_MODEL.set(model)
    return route


def embed_model(settings: Settings, model: str) -> None:
    if target(settings, model) != "embed":
        raise WireError(400, f"{model!r} is a chat model; it does not embed.", "invalid_model", "model")


async def start(
    router: Router, route: str, messages: list[ChatMessage], opts: GenOptions
) -> AsyncIterator[RouterEvent]:
    """The router's events, the first already pulled: "no provider answered" is an HTTP error, not a broken 200."""
    events = router.stream(route, messages, opts)
    first = await events.__anext__()

    async def chained() -> AsyncIterator[RouterEvent]:
        yield first
        async for event in events:
            yield event

    return chained()


@dataclass
class Answer:
    text: str = ""
    provider: str = ""
    model: str = ""
    usage: Usage | None = None
    broken: str | None = None
    calls: list[ToolCall] = field(default_factory=list)


async def collect(events: AsyncIterator[RouterEvent]) -> Answer:
    """A whole answer; one that broke off is an error (a partial answer must not pass for a complete one)."""
    out, parts, calls = Answer(), [], ToolCalls()
    async for event in events:
        if isinstance(event, Started):
            out.provider, out.model = event.provider, event.model
        elif isinstance(event, Delta):
            parts.append(event.text)
        elif isinstance(event, ToolCallDelta):
            calls.add(event)
        elif isinstance(event, Usage):
            out.usage = event
        elif isinstance(event, StreamError):
            out.broken = event.message
    out.text = "".join(parts)
    out.calls = calls.calls()
    if out.broken is not None:
        raise WireError(503, f"the answer broke off ({out.provider}); ask again", "answer_interrupted")
    return out


def finish_reason(usage: Usage | None, called: bool = False) -> Literal["stop", "length", "tool_calls"]:
    """Why an answer ended: cut by ``max_tokens`` (never passed off as complete), calls made, or done."""
    if usage is not None and usage.finish_reason == "length":
        return "length"
    return "tool_calls" if called else "stop"


def tokens(messages: list[ChatMessage], usage: Usage | None) -> tuple[int, int]:
    """(prompt, completion) tokens: the provider's counts, estimated when it gave none."""
    if usage is not None and usage.prompt_tokens:
        return usage.prompt_tokens, usage.completion_tokens
    estimate = sum(estimate_tokens(m.content) for m in messages)
    return estimate, usage.completion_tokens if usage else 0


async def embed(request: Request, texts: list[str], kind: Literal["query", "passage"]) -> npt.NDArray[np.float32]:
    """Vectors from the app's embedder (float32, L2-normalised), computed off the event loop."""
    if not texts or any(not t.strip() for t in texts):
        raise WireError(400, "every input must be a non-empty string", "invalid_value", "input")

    def work() -> npt.NDArray[np.float32]:
        embedder: Embedder = request.app.state.search.embedder  # loaded on first use: seconds, so not on the loop
        return embedder.embed_queries(texts) if kind == "query" else embedder.embed_passages(texts)

    return await asyncio.to_thread(work)
