"""A Responses API answer on the wire: the Response object (``output`` message and function_call items, ``usage``,
``status``) and the server-sent events ``client.responses.stream`` assembles, each with its ``sequence_number``.

An answer cut by ``max_output_tokens`` is ``status: "incomplete"`` with ``incomplete_details.reason:
"max_output_tokens"`` (its stream ends with ``response.incomplete``, never ``response.completed``); an answer that
breaks off mid-stream ends with an ``error`` event, which the SDK raises as ``APIError``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from jindan.api.gateway import common
from jindan.api.gateway.common import Failure
from jindan.api.gateway.openai import error_body
from jindan.llm.base import ChatMessage, Delta, ToolCallDelta, Usage
from jindan.llm.router import RouterEvent, StreamError
from jindan.llm.tools import new_id


@dataclass(frozen=True)
class Head:
    """What every Response object of one request repeats: the request's own settings, its id and time."""

    request: dict[str, Any]
    id: str
    created_at: int


def envelope(head: Head, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    r = head.request
    fmt = (r.get("text") or {}).get("format") or {"type": "text"}
    return {
        "id": head.id,
        "object": "response",
        "created_at": head.created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": r.get("instructions"),
        "max_output_tokens": r.get("max_output_tokens"),
        "model": r["model"],
        "output": output,
        "parallel_tool_calls": r.get("parallel_tool_calls") is not False,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": r.get("temperature"),
        "text": {"format": {k: v for k, v in fmt.items() if v is not None}},
        "tool_choice": r.get("tool_choice") or "auto",
        "tools": r.get("tools") or [],
        "top_p": r.get("top_p"),
        "truncation": "disabled",
        "usage": usage,
        "user": r.get("user"),
        "metadata": r.get("metadata") or {},
    }


def usage_body(messages: list[ChatMessage], usage: Usage | None) -> dict[str, Any]:
    used_in, used_out = common.tokens(messages, usage)
    return {
        "input_tokens": used_in,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": used_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": used_in + used_out,
    }


def status_of(usage: Usage | None, called: bool) -> str:
    return "incomplete" if common.finish_reason(usage, called) == "length" else "completed"


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"msg_{uuid.uuid4().hex}", "type": "message", "role": "assistant", "status": status,
            "content": content}  # fmt: skip


def call_item(call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": f"fc_{uuid.uuid4().hex}", "type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}  # fmt: skip


def whole(head: Head, answer: common.Answer, messages: list[ChatMessage]) -> dict[str, Any]:
    """The Response object of a non-streamed request: a message item (unless the answer is only calls), then
    one function_call item per call."""
    status = status_of(answer.usage, bool(answer.calls))
    output = [message_item(status, [text_part(answer.text)])] if answer.text or not answer.calls else []
    output += [call_item(c.id, c.name, c.arguments, "completed") for c in answer.calls]
    return envelope(head, status, output, usage_body(messages, answer.usage))


class Events:
    """Numbered SSE events (``event:`` line and JSON ``data:`` with ``type`` and ``sequence_number``)."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, kind: str, **data: Any) -> str:
        payload = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return f"event: {kind}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


@dataclass
class Stream:
    """The items of a streamed answer as they grow: the message (text so far), the calls by their index."""

    output: list[dict[str, Any]]
    text: list[str]
    message: dict[str, Any] | None = None

    def open_message(self, emit: Events) -> list[str]:
        self.message = message_item("in_progress", [])
        self.output.append(self.message)
        at = {"item_id": self.message["id"], "output_index": len(self.output) - 1}
        return [emit("response.output_item.added", output_index=at["output_index"], item=dict(self.message)),
                emit("response.content_part.added", **at, content_index=0, part=text_part(""))]  # fmt: skip

    def close(self, emit: Events, status: str) -> list[str]:
        lines: list[str] = []
        for index, item in enumerate(self.output):
            at = {"item_id": item["id"], "output_index": index}
            if item is self.message:
                part = text_part("".join(self.text))
                lines += [emit("response.output_text.done", **at, content_index=0, text=part["text"], logprobs=[]),
                          emit("response.content_part.done", **at, content_index=0, part=part)]  # fmt: skip
                item.update(status=status, content=[part])
            else:
                lines.append(emit("response.function_call_arguments.done", **at, name=item["name"],
                                  arguments=item["arguments"]))  # fmt: skip
                item["status"] = "completed"
            lines.append(emit("response.output_item.done", output_index=index, item=item))
        return lines


async def stream(head: Head, events: AsyncIterator[RouterEvent], messages: list[ChatMessage]) -> AsyncIterator[str]:
    """response.created and .in_progress; per item output_item.added, its deltas (content_part.added and
    output_text.delta, or function_call_arguments.delta); at the end each item's .done events and
    response.completed (or response.incomplete when cut)."""
    emit, state = Events(), Stream([], [])
    calls: dict[int, dict[str, Any]] = {}
    usage: Usage | None = None
    start = envelope(head, "in_progress", [], None)
    yield emit("response.created", response=start)
    yield emit("response.in_progress", response=start)
    async for event in events:
        if isinstance(event, Delta) and event.text:
            for line in state.open_message(emit) if state.message is None else []:
                yield line
            state.text.append(event.text)
            message = state.message or {}
            at = {"item_id": message.get("id", ""), "output_index": state.output.index(message)}
            yield emit("response.output_text.delta", **at, content_index=0, delta=event.text, logprobs=[])
        elif isinstance(event, ToolCallDelta):
            item = calls.get(event.index)
            if item is None:
                item = calls[event.index] = call_item(event.id or new_id(), event.name or "", "", "in_progress")
                state.output.append(item)
                yield emit("response.output_item.added", output_index=len(state.output) - 1, item=dict(item))
            item["name"] = item["name"] or event.name or ""
            if event.arguments:
                item["arguments"] += event.arguments
                yield emit("response.function_call_arguments.delta", item_id=item["id"],
                           output_index=state.output.index(item), delta=event.arguments)  # fmt: skip
        elif isinstance(event, StreamError):
            f = Failure(503, f"the answer broke off ({event.provider}); ask again", "answer_interrupted")
            yield emit("error", code=f.code, message=f.message, param=None, **error_body(f))
            return
        elif isinstance(event, Usage):
            usage = event
    status = status_of(usage, bool(calls))
    if not state.output:  # nothing said: still one (empty) message, as the whole answer has
        for line in state.open_message(emit):
            yield line
    for line in state.close(emit, status):
        yield line
    final = envelope(head, status, state.output, usage_body(messages, usage))
    yield emit("response.completed" if status == "completed" else "response.incomplete", response=final)
