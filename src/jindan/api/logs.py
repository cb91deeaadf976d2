"""JSON logs for the service: one object per line with the request id and the caller's ids.

Records carry ids, counts and timings. Student text, prompts, answers, tokens and keys are never logged: the
code logs none, and the formatter writes only the message and the allow-listed context fields.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from jindan.api import context
from jindan.settings import Settings

CONTEXT_FIELDS = ("request_id", "principal", "role", "user_id", "key")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = getattr(record, "ctx", None) or context.current()
        data.update({k: ctx[k] for k in CONTEXT_FIELDS if ctx.get(k) is not None})
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            data["http"] = http
        if record.exc_info and record.exc_info[0] is not None:
            data["error"] = record.exc_info[0].__name__
            data["trace"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_json_logging(settings: Settings) -> None:
    """Route jindan's, uvicorn's and third-party logs through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("jindan").setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our access line has the route template and ids
