"""Per-request context that logs and error bodies read: the request id and the caller's loggable fields.

The middleware puts one mutable record per request in a ContextVar; the auth dependency fills in the caller,
so the access log written by the middleware after the response sees it too.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_current: ContextVar[dict[str, Any] | None] = ContextVar("jindan_request", default=None)


def start(request_id: str) -> dict[str, Any]:
    record: dict[str, Any] = {"request_id": request_id}
    _current.set(record)
    return record


def current() -> dict[str, Any]:
    return _current.get() or {}


def request_id() -> str | None:
    rid: str | None = current().get("request_id")
    return rid


def set_principal(fields: dict[str, Any]) -> None:
    record = _current.get()
    if record is not None:
        record.update(fields)
