"""Pure ASGI middleware (SSE streams pass through unbuffered): request id, body cap, NUL check, latency, access log.

- ``X-Request-ID``: accepted when it matches ``[A-Za-z0-9-]{1,64}``, otherwise a new uuid4; echoed back.
- Bodies larger than ``limits.body_bytes`` get 413 from the Content-Length header alone, or as soon as a
  chunked body passes the cap, never after reading it all.
- A NUL byte in the path or query string is refused with 422 (PostgreSQL cannot store it).
- Latency is labelled by the route template (``/students/{user_id}/diagnosis``), never the raw path; the
  access log line carries ids, status and timing, never bodies or query strings.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jindan.api import context, errors
from jindan.api.metrics import Metrics

ID_SHAPE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
access = logging.getLogger("jindan.access")


Shape = Callable[[str, int, str], dict[str, Any] | None]  # (path, status, message) -> a client's error body


async def _json(send: Send, status: int, detail: str, rid: str, shaped: dict[str, Any] | None = None) -> None:
    body = json.dumps({**(shaped or {"detail": detail}), "request_id": rid}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": [*headers, (b"x-request-id", rid.encode())]}
    )
    await send({"type": "http.response.body", "body": body})


class FrontDoor:
    def __init__(self, app: ASGIApp, *, max_body: int, metrics: Metrics, shape: Shape | None = None) -> None:
        self.app, self.max_body, self.metrics = app, max_body, metrics
        self.shape = shape or (lambda path, status, message: None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if ID_SHAPE.match(given) else str(uuid.uuid4())
        record = context.start(rid)
        start = time.perf_counter()
        status = {"code": 500}

        state = {"started": False, "over": False}

        async def send_with_id(message: Message) -> None:
            if state["over"]:
                return  # the 413 went out already; the app's own answer is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        seen = {"n": 0}

        async def capped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                seen["n"] += len(message.get("body", b""))
                if seen["n"] > self.max_body and not state["over"]:
                    if not state["started"]:
                        status["code"] = 413
                        await self._too_large(send, scope, rid)
                    state["over"] = True
                    return {"type": "http.disconnect"}  # the app stops reading; nothing more is buffered
            return message

        try:
            if b"\x00" in scope.get("query_string", b"").replace(b"%00", b"\x00") or "\x00" in scope["path"]:
                status["code"] = 422
                await _json(send, 422, "NUL characters are not accepted in the URL", rid)
                return
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                status["code"] = 413
                await self._too_large(send, scope, rid)
                return
            try:
                await self.app(scope, capped, send_with_id)
            except Exception as exc:
                if state["over"]:
                    return  # the body cap ended this request; what the app raised about it does not matter
                if state["started"]:
                    raise
                # whatever no handler mapped (an SDK's own network error, a bug): JSON with the request id
                response = errors.handle(exc, operator=record.get("role") in ("admin", "service"))
                status["code"] = response.status_code
                await response(scope, receive, send_with_id)
        finally:
            self._record(scope, status["code"], time.perf_counter() - start, record)

    async def _too_large(self, send: Send, scope: Scope, rid: str) -> None:
        message = f"request body over {self.max_body} bytes"
        await _json(send, 413, message, rid, self.shape(scope["path"], 413, message))

    def _record(self, scope: Scope, status: int, seconds: float, record: dict[str, Any]) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.http.labels(template, scope["method"], f"{status // 100}xx").observe(seconds)
        http = {"method": scope["method"], "route": template, "status": status, "ms": round(seconds * 1000, 1)}
        access.info(
            "%s %s %s %.1fms",
            scope["method"],
            template,
            status,
            seconds * 1000,
            extra={"http": http, "ctx": dict(record)},
        )
