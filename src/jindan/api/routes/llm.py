"""Chat through a named route, streamed as Server-Sent Events (or one JSON answer)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from jindan.api.deps import RouterDep, require
from jindan.api.schemas import ERRORS
from jindan.api.sse import respond
from jindan.llm.base import ChatMessage, Delta, GenOptions, Usage
from jindan.llm.router import RouterEvent, Started, StreamError

router = APIRouter(prefix="/llm", tags=["llm"], responses=ERRORS, dependencies=[require("ai.chat")])


class MessageIn(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=50_000)


class ChatIn(BaseModel):
    route: Literal["explain", "hint", "diagnosis", "chat"] = "chat"
    messages: list[MessageIn] = Field(min_length=1, max_length=100)
    max_tokens: int = Field(512, ge=1, le=8192)
    temperature: float = Field(0.2, ge=0, le=2)
    stream: bool = True


class ChatOut(BaseModel):
    provider: str
    model: str
    text: str
    usage: dict[str, object]
    error: str | None = None


@router.post("/chat", response_model=ChatOut, responses={200: {"content": {"text/event-stream": {}}}})
async def chat(body: ChatIn, llm: RouterDep) -> object:
    """Answer through a route (explain, hint, diagnosis, chat). Streamed: started, delta..., usage (or error)."""
    messages = [ChatMessage(m.role, m.content) for m in body.messages]
    opts = GenOptions(temperature=body.temperature, max_tokens=body.max_tokens)
    events = llm.stream(body.route, messages, opts)
    first = await events.__anext__()  # fail with 503 before any byte is sent, not inside a 200 stream
    if body.stream:
        return respond([first], events)
    out = ChatOut(provider="", model="", text="", usage={})
    async for event in _chain(first, events):
        if isinstance(event, Started):
            out.provider, out.model = event.provider, event.model
        elif isinstance(event, Delta):
            out.text += event.text
        elif isinstance(event, Usage):
            out.usage = dataclasses.asdict(event)
        elif isinstance(event, StreamError):
            out.error = event.message
    return out


async def _chain(first: RouterEvent, rest: AsyncIterator[RouterEvent]) -> AsyncIterator[RouterEvent]:
    yield first
    async for event in rest:
        yield event
