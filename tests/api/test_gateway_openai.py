"""The OpenAI-compatible gateway, driven by the real `openai` SDK (sync and async, streamed and not) through
FastAPI's TestClient: scripted providers for the bookkeeping and the errors, the real embedded model once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.fixtures.auth import School
from tests.fixtures.gateway import gateway_app, key_of
from tests.llm.fakes import Scripted

from jindan.db.engine import Database
from jindan.db.models import LLMComparison
from jindan.embed.base import Embedder
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.settings import Settings

MESSAGES: Any = [{"role": "system", "content": "짧게 답하세요."}, {"role": "user", "content": "2+2는?"}]


@pytest.fixture()
def served(settings: Settings, db: Database, school: School) -> Iterator[tuple[FastAPI, TestClient]]:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", text="둘 더하기 둘은 넷"))
    with TestClient(app) as client:
        yield app, client


def sdk(client: TestClient, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)


def comparisons(db: Database) -> list[LLMComparison]:
    with db.session() as s:
        return list(s.scalars(select(LLMComparison)))


def test_non_streamed_answer_usage_and_shadow(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", text="둘 더하기 둘은 넷"))
    with TestClient(app) as client:
        r = sdk(client, key_of(school.headers["service"])).chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, temperature=0, max_tokens=32, seed=7, stop=["\n\n"]
        )
        registry = app.state.metrics.registry
        attempts = registry.get_sample_value(
            "jindan_llm_attempts_total", {"route": "chat", "provider": "llamacpp", "outcome": "ok"}
        )
    assert r.choices[0].message.content == "둘 더하기 둘은 넷" and r.choices[0].finish_reason == "stop"
    assert r.model == "gpt-3.5-turbo" and r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (10, 4, 14)
    assert r.system_fingerprint == "jindan:llamacpp/llamacpp-model"
    assert attempts == 1  # the router's metrics saw the gateway call
    (row,) = comparisons(db)  # the shadow run of route chat recorded the same request
    assert (row.route, row.primary_text, row.shadow_text, row.shadow_model) == (
        "chat",
        "둘 더하기 둘은 넷",
        "legacy api answer",
        "gpt-4o-mini",
    )


def test_streamed_answer_with_usage_chunk(served: tuple[FastAPI, TestClient], school: School) -> None:
    _, client = served
    stream = sdk(client, key_of(school.headers["teacher"])).chat.completions.create(
        model="gpt-4", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "둘 더하기 둘은 넷"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_request_maps_onto_router_options() -> None:
    from jindan.api.gateway.openai import ChatIn, to_router

    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    body = ChatIn.model_validate(
        {
            "model": "gpt-4",
            "messages": [
                {"role": "developer", "content": "JSON only"},
                {"role": "user", "content": [{"type": "text", "text": "2+"}, {"type": "text", "text": "2?"}]},
            ],
            "temperature": 0.5,
            "max_completion_tokens": 99,
            "stop": "END",
            "seed": 3,
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        }
    )
    route, messages, opts = to_router(body, Settings())
    assert route == "explain" and [(m.role, m.content) for m in messages] == [("system", "JSON only"), ("user", "2+2?")]
    assert (opts.temperature, opts.max_tokens, opts.stop, opts.seed, opts.json_schema) == (0.5, 99, ("END",), 3, schema)
    plain = ChatIn.model_validate({"model": "chat", "messages": [{"role": "user", "content": "x"}],
                                   "response_format": {"type": "json_object"}})  # fmt: skip
    route, _, opts = to_router(plain, Settings())
    assert route == "chat" and opts.json_schema == {"type": "object"} and opts.max_tokens == Settings().llm.max_tokens
    fn = {"name": "f", "parameters": {"type": "object"}}
    ask = {"model": "chat", "messages": [{"role": "user", "content": "x"}]}
    legacy = ChatIn.model_validate({**ask, "functions": [fn]})
    assert to_router(legacy, Settings())[2].parallel_tool_calls is False  # one function_call per answer
    tools = ChatIn.model_validate({**ask, "tools": [{"type": "function", "function": fn}]})
    assert to_router(tools, Settings())[2].parallel_tool_calls is True


def test_a_body_that_is_not_json_says_so(served: tuple[FastAPI, TestClient], school: School) -> None:
    _, client = served
    headers = {"Authorization": f"Bearer {key_of(school.headers['teacher'])}", "Content-Type": "application/json"}
    r = client.post("/v1/chat/completions", content=b'{"model": "gpt-4", ', headers=headers)
    err = r.json()["error"]
    assert r.status_code == 400 and err["code"] == "invalid_json" and err["param"] is None
    assert err["message"].startswith("the body is not valid JSON")


@pytest.mark.parametrize(
    ("who", "body", "error", "status", "code"),
    [
        ("teacher", {"model": "gpt-9"}, openai.NotFoundError, 404, "model_not_found"),
        ("teacher", {"model": "text-embedding-3-small"}, openai.BadRequestError, 400, "invalid_model"),
        ("teacher", {"model": "gpt-4", "temperature": 3}, openai.BadRequestError, 400, "invalid_value"),
        ("teacher", {"model": "gpt-4", "n": 2}, openai.BadRequestError, 400, "invalid_value"),
        (
            "teacher",
            {"model": "gpt-4", "tools": [{"type": "web_search"}]},
            openai.BadRequestError,
            400,
            "unsupported_tool",
        ),
        ("teacher", {"model": "gpt-4", "tools": [{"type": "function"}]}, openai.BadRequestError, 400, "invalid_value"),
        ("teacher", {"model": "gpt-4", "logprobs": True}, openai.BadRequestError, 400, "unsupported_parameter"),
        ("student", {"model": "gpt-4"}, openai.PermissionDeniedError, 403, "permission_denied"),
        ("nobody", {"model": "gpt-4"}, openai.AuthenticationError, 401, "invalid_api_key"),
    ],
)
def test_errors_in_openai_shape(
    served: tuple[FastAPI, TestClient], school: School, who: str, body: dict[str, Any], error: type, status: int,
    code: str,
) -> None:  # fmt: skip
    _, client = served
    key = "jdn_nobody_wrong" if who == "nobody" else key_of(school.headers[who])
    with pytest.raises(error) as info:
        sdk(client, key).chat.completions.create(messages=MESSAGES, **body)
    assert info.value.status_code == status
    err = info.value.body
    assert isinstance(err, dict) and set(err) == {"message", "type", "param", "code"} and err["code"] == code
    assert isinstance(err["code"], str) and err["message"]


def test_a_body_over_the_cap_reaches_the_sdk_as_its_own_error(
    served: tuple[FastAPI, TestClient], school: School
) -> None:
    _, client = served
    huge = [{"role": "user", "content": "x" * (1 << 20)}]
    with pytest.raises(openai.APIStatusError) as info:
        sdk(client, key_of(school.headers["teacher"])).chat.completions.create(model="gpt-4", messages=huge)  # type: ignore[arg-type]
    err = info.value.body
    assert info.value.status_code == 413 and isinstance(err, dict) and err["code"] == "request_too_large"
    assert set(err) == {"message", "type", "param", "code"} and info.value.code == "request_too_large"


def test_nothing_answers_is_503_not_a_broken_200(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", "refuse"))
    with TestClient(app) as client, pytest.raises(openai.InternalServerError) as info:
        sdk(client, key_of(school.headers["service"])).chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, stream=True
        )
    assert info.value.status_code == 503 and info.value.body["type"] == "server_error"  # type: ignore[index]


def test_broken_stream_raises_in_the_sdk(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", "break", text="one two three four"))
    with TestClient(app) as client:
        stream = sdk(client, key_of(school.headers["service"])).chat.completions.create(
            model="gpt-3.5-turbo", messages=MESSAGES, stream=True
        )
        seen: list[str] = []
        with pytest.raises(openai.APIError, match="broke off"):
            for c in stream:
                seen.append(c.choices[0].delta.content or "")
        assert "".join(seen) == "one two"  # the partial text arrived, then the error (never a clean finish)
        with pytest.raises(openai.InternalServerError):  # not streamed: a broken answer is an error, not a 200
            sdk(client, key_of(school.headers["service"])).chat.completions.create(model="gpt-4", messages=MESSAGES)


def test_async_sdk_streamed_and_not(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", text="비동기 답"))
    key = key_of(school.headers["service"])

    async def go() -> tuple[str, str]:
        async with app.router.lifespan_context(app):  # the app's own start-up and shutdown, on this event loop
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                client = openai.AsyncOpenAI(base_url="http://testserver/v1", api_key=key, http_client=http)
                whole = await client.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
                parts = []
                async for c in await client.chat.completions.create(model="gpt-4", messages=MESSAGES, stream=True):
                    parts.extend(ch.delta.content or "" for ch in c.choices)
            return whole.choices[0].message.content or "", "".join(parts)

    assert asyncio.run(go()) == ("비동기 답", "비동기 답")
    assert len(comparisons(db)) == 1  # only route chat (gpt-3.5-turbo) is shadowed; explain (gpt-4) is not


def test_models_list_and_retrieve(served: tuple[FastAPI, TestClient], school: School, settings: Settings) -> None:
    _, client = served
    api = sdk(client, key_of(school.headers["service"]))
    listed = {m.id: m.owned_by for m in api.models.list()}
    assert listed == {name: f"jindan:{route}" for name, route in settings.gateway.models.items()}
    assert api.models.retrieve("gpt-4").owned_by == "jindan:explain"
    with pytest.raises(openai.NotFoundError):
        api.models.retrieve("gpt-9")


def test_embeddings_float_and_base64(settings: Settings, db: Database, school: School, minilm: Embedder) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp"), embedder=minilm)
    with TestClient(app) as client:
        api = sdk(client, key_of(school.headers["service"]))
        texts = ["확률의 덧셈정리", "probability of two dice summing to 7"]
        floats = api.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
        packed = api.embeddings.create(model="text-embedding-3-small", input=texts)  # the SDK asks for base64
        raw = client.post("/v1/embeddings", headers=school.headers["service"],
                          json={"model": "text-embedding-004", "input": "x", "encoding_format": "base64"})  # fmt: skip
        with pytest.raises(openai.BadRequestError, match="dimensions"):
            api.embeddings.create(model="text-embedding-3-small", input="x", dimensions=1536)
        with pytest.raises(openai.BadRequestError, match="chat model"):
            api.embeddings.create(model="gpt-4", input="x")
        with pytest.raises(openai.PermissionDeniedError):  # embeddings are for the platform's services
            sdk(client, key_of(school.headers["teacher"])).embeddings.create(model="text-embedding-3-small", input="x")
    assert [len(d.embedding) for d in floats.data] == [384, 384] and floats.usage.prompt_tokens > 0
    a, b = np.array(floats.data[0].embedding), np.array(packed.data[0].embedding)
    assert np.allclose(a, b, atol=1e-6) and abs(np.linalg.norm(a) - 1) < 1e-4
    assert np.allclose(a, minilm.embed_queries([texts[0]])[0], atol=1e-5)  # the app's own embedder answered
    assert isinstance(raw.json()["data"][0]["embedding"], str)  # base64 on the wire


@pytest.mark.slow
def test_real_embedded_model_through_the_sdk(
    settings: Settings, db: Database, school: School, smol: LlamaCppProvider
) -> None:
    app, _ = gateway_app(settings, db, smol)
    with TestClient(app) as client:
        api = sdk(client, key_of(school.headers["service"]))
        whole = api.chat.completions.create(
            model="gpt-3.5-turbo", messages=[{"role": "user", "content": "What is 2+2?"}], max_tokens=12, temperature=0
        )
        streamed = api.chat.completions.create(
            model="gpt-4",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(streamed)
        as_json = api.chat.completions.create(
            model="gpt-3.5-turbo",
            messages=[{"role": "user", "content": "Give a JSON object with key answer for 2+2."}],
            max_tokens=24,
            temperature=0,
            response_format={"type": "json_object"},
        )
    assert whole.choices[0].message.content and whole.usage is not None and whole.usage.completion_tokens > 0
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    content = as_json.choices[0].message.content or ""
    assert content.lstrip().startswith("{"), content  # JSON mode reached the model (a grammar), cut or not
    assert as_json.choices[0].finish_reason == "length" or isinstance(json.loads(content), dict)
    assert comparisons(db)  # route chat was shadowed


def test_a_prompt_too_long_or_a_schema_the_grammar_cannot_follow_is_a_400_and_the_model_stays_up(
    settings: Settings, db: Database, school: School, smol: LlamaCppProvider
) -> None:
    """The real model's context window (2,048 tokens here) and llama.cpp's grammar converter: the SDK raises
    BadRequestError with OpenAI's code, and the next request of anyone is served (no breaker failure)."""
    settings.llm.breaker_failures = 1
    app, _ = gateway_app(settings, db, smol)
    with TestClient(app) as client:
        api = sdk(client, key_of(school.headers["service"]))
        with pytest.raises(openai.BadRequestError) as long:
            api.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hello " * 3000}], max_tokens=5
            )
        lookahead = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(?=x)x+$"}}}
        with pytest.raises(openai.BadRequestError) as schema:
            api.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "x"}],
                max_tokens=5,
                response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": lookahead}},
            )
        after = api.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    assert long.value.code == "context_length_exceeded" and "context window" in long.value.message
    assert schema.value.code == "invalid_schema"
    assert after.choices[0].message.content is not None


def test_rate_limit_is_429_with_retry_after(settings: Settings, db: Database, school: School) -> None:
    settings.limits.ai_per_minute = {"teacher": 1}
    settings.limits.ai_burst = 1
    app, _ = gateway_app(settings, db, Scripted("llamacpp"))
    with TestClient(app) as client:
        api = sdk(client, key_of(school.headers["teacher"]))
        api.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
        with pytest.raises(openai.RateLimitError) as info:
            api.chat.completions.create(model="gpt-3.5-turbo", messages=MESSAGES)
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert info.value.body["type"] == "rate_limit_error"  # type: ignore[index]
