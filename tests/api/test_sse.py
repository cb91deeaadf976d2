"""A streamed answer that fails after its 200 head went out ends with an ``error`` event, never a cut body."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse
from tests.fixtures.sse import events

from jindan.api.sse import respond
from jindan.llm.base import Delta
from jindan.llm.router import SHUTTING_DOWN, AllProvidersFailed, Started
from jindan.rag.answer import Sources


async def failing(exc: Exception) -> AsyncIterator[object]:
    yield Started("llamacpp", "smol")
    raise exc


def body(response: StreamingResponse) -> str:
    async def read() -> str:
        return "".join([str(chunk) async for chunk in response.body_iterator])

    return asyncio.run(read())


def test_the_server_stopping_before_the_first_token_says_so() -> None:
    out = events(body(respond([Sources([], [], 120, 4000)], failing(AllProvidersFailed(SHUTTING_DOWN)))))
    assert [kind for kind, _ in out] == ["sources", "started", "error"]
    assert out[-1][1] == {"provider": "", "message": SHUTTING_DOWN, "partial": ""}


def test_no_model_answering_is_the_words_of_the_503_without_the_cause() -> None:
    cause = "ollama: connect to http://10.0.0.7:11434 refused"
    out = events(body(respond([], failing(AllProvidersFailed("no provider answered: " + cause)))))
    error = out[-1]
    assert error[0] == "error" and "no language model answered" in error[1]["message"]
    assert "10.0.0.7" not in error[1]["message"]


def test_an_unforeseen_failure_is_an_error_event_with_the_request_id_hint() -> None:
    out = events(body(respond([Delta("Try")], failing(RuntimeError("secret student text")))))
    assert [kind for kind, _ in out] == ["delta", "started", "error"]
    assert "secret" not in out[-1][1]["message"] and "request id" in out[-1][1]["message"]
