"""The error shape a path's client reads, for answers the front door gives before any route runs (a body over
the cap): the openai SDK reads ``{"error": {message, type, param, code}}`` under ``/v1/``, google-genai
``{"error": {code, message, status}}`` for a ``models/...:method`` call; other paths keep ``{"detail"}``."""

from __future__ import annotations

import re
from typing import Any

from jindan.api.gateway import gemini, openai
from jindan.api.gateway.common import Failure

_GEMINI = re.compile(r"^/v1(?:beta)?/models/[^/]+:[A-Za-z]+$")
CODES = {413: "request_too_large"}


def wire_error(path: str, status: int, message: str) -> dict[str, Any] | None:
    """The body a gateway client expects for this failure at ``path``, or None (not a gateway path)."""
    if _GEMINI.match(path):
        return gemini.error_body(Failure(status, message))
    if path.startswith("/v1/"):
        return openai.error_body(Failure(status, message, code=CODES.get(status)))
    return None
