"""One map from domain exceptions to HTTP statuses, always JSON, never an internal URL or a stack trace.

Bad input is a 4xx that says what was wrong; a component that is down is a 503 that says which kind (details
are logged with the request id for operators, and shown to admins by /ready); anything unforeseen is a JSON
500 with the request id, logged in full.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from jindan.api.context import request_id
from jindan.diagnosis.service import NoModel
from jindan.embed.base import EmbedderError, EmbedderSwitchedOff
from jindan.llm.router import SHUTTING_DOWN, AllProvidersFailed, ProvidersSwitchedOff
from jindan.rag.prompt import PromptTooLong
from jindan.security import rules
from jindan.vectors.base import CollectionNotFound, ModelMismatch, VectorStoreError

log = logging.getLogger("jindan.api")


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "request_id": request_id()}, status_code=status, headers=headers)


UNREACHABLE_SDKS = ("httpx", "httpcore", "qdrant_client", "ollama", "openai", "google")


def _unreachable(exc: Exception) -> bool:
    """A network failure of an SDK (a server down, a timeout) that the adapter did not translate."""
    return isinstance(exc, ConnectionError | TimeoutError) or type(exc).__module__.startswith(UNREACHABLE_SDKS)


def _status(exc: Exception) -> tuple[int, str, dict[str, str] | None]:
    if isinstance(exc, NoModel):
        return 409, str(exc), None
    if isinstance(exc, LookupError):
        return 404, str(exc), None
    if isinstance(exc, PermissionError):
        return 403, str(exc), None
    if isinstance(exc, CollectionNotFound):
        return 503, "the question index is not built yet: an operator runs `jindan index questions`", None
    if isinstance(exc, ModelMismatch | PromptTooLong | ValueError):
        return 422, str(exc), None
    if isinstance(exc, VectorStoreError):
        return 503, "the vector store is unavailable; try again shortly (operators: see /ready)", {"Retry-After": "5"}
    if isinstance(exc, EmbedderSwitchedOff):  # deliberate, like a switched-off route: clients should not retry
        return 503, str(exc), {"x-should-retry": "false"}
    if isinstance(exc, EmbedderError):
        return (
            503,
            "the embedding model is unavailable; try again shortly (operators: see /ready)",
            {"Retry-After": "5"},
        )
    if isinstance(exc, ProvidersSwitchedOff):  # deliberate, not transient: clients should not retry
        return 503, str(exc), {"x-should-retry": "false"}
    if isinstance(exc, AllProvidersFailed):
        retry = getattr(exc, "retry_after_s", None)
        if retry is not None:
            return 429, "the language model is busy; retry shortly", {"Retry-After": str(int(retry) + 1)}
        return 503, "no language model answered; try again shortly (operators: see /ready)", {"Retry-After": "5"}
    if _unreachable(exc):
        return 503, "a backing service is unavailable; try again shortly (operators: see /ready)", {"Retry-After": "5"}
    if isinstance(exc, DataError):
        return 422, "a value is out of range or contains characters the database does not accept (e.g. NUL)", None
    if isinstance(exc, OperationalError | DBAPIError) and "canceling statement" in str(exc):
        return 503, "the database took too long; try again shortly", {"Retry-After": "5"}
    if isinstance(exc, OperationalError):
        return 503, "the database is unavailable; try again shortly (operators: see /ready)", {"Retry-After": "5"}
    return 500, "internal error; the request id identifies it in the service's log", None


def handle(exc: Exception, operator: bool = False) -> JSONResponse:
    """The JSON answer for ``exc``; operators (admins, service keys) also get the cause of a 503."""
    status, detail, headers = _status(exc)
    if status >= 500:
        log.error("%s on request: %s: %s", status, type(exc).__name__, exc, exc_info=status == 500)
    response = error(status, detail, headers)
    if status == 503 and operator:
        response = JSONResponse(
            {"detail": detail, "request_id": request_id(), "cause": str(exc)}, status_code=status, headers=headers
        )
    return response


def in_stream(exc: Exception) -> str:
    """What a client is told when an answer fails after its 200 head went out (it ends with an ``error`` event,
    never a cut connection): the same words as the status ``exc`` would have had, logged the same way."""
    if isinstance(exc, AllProvidersFailed) and str(exc) == SHUTTING_DOWN:
        return SHUTTING_DOWN
    status, detail, _ = _status(exc)
    if status >= 500:
        log.error("%s in a stream: %s: %s", status, type(exc).__name__, exc, exc_info=status == 500)
    else:
        log.warning("%s in a stream: %s", status, type(exc).__name__)
    return detail


def _operator(request: Request) -> bool:
    principal = getattr(request.state, "principal", None)
    return principal is not None and rules.reach(principal, "ops.read") == "all"


HANDLED: tuple[type[Exception], ...] = (
    LookupError,
    PermissionError,
    ValueError,
    VectorStoreError,
    EmbedderError,
    AllProvidersFailed,
    DBAPIError,
)  # anything else is answered by the front-door middleware through ``handle`` (no re-raise, no HTML)


def install(app: FastAPI) -> None:
    async def on_exception(request: Request, exc: Exception) -> JSONResponse:
        return handle(exc, _operator(request))

    for kind in HANDLED:  # the most specific registered class wins (looked up along the exception's MRO)
        app.add_exception_handler(kind, on_exception)
