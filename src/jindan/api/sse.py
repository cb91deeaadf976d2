"""Server-Sent Events for every streamed answer: one event name per event type, the dataclass as JSON."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

from jindan.answers.gate import Answering, Checked
from jindan.api.errors import in_stream
from jindan.llm.base import Delta, Usage
from jindan.llm.router import Started, StreamError
from jindan.rag.answer import Cited, Sources

KINDS: dict[type, str] = {
    Sources: "sources",
    Started: "started",
    Delta: "delta",
    Usage: "usage",
    StreamError: "error",
    Cited: "cited",
    Answering: "answering",
    Checked: "checked",
}


def frame(event: Any) -> str:
    return f"event: {KINDS[type(event)]}\ndata: {json.dumps(dataclasses.asdict(event), ensure_ascii=False)}\n\n"


def respond(head: Sequence[Any], rest: AsyncIterator[Any]) -> StreamingResponse:
    """Stream ``head`` (events already pulled, so failures could still become an HTTP status) then the rest.
    A failure after that (no model answered, the server stopping before the first token) ends the stream with
    an ``error`` event: the client gets a complete response that says why, not a dropped connection."""

    async def gen() -> AsyncIterator[str]:
        for event in head:
            yield frame(event)
        try:
            async for event in rest:
                yield frame(event)
        except Exception as exc:  # answered as an event (cancellation is not an Exception)
            yield frame(StreamError("", in_stream(exc), ""))

    return StreamingResponse(gen(), media_type="text/event-stream")
