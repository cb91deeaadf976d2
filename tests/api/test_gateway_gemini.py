"""The Gemini-compatible gateway, driven by the real `google-genai` SDK through FastAPI's TestClient."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from google import genai
from google.genai import errors, types
from sqlalchemy import select
from tests.fixtures.auth import School
from tests.fixtures.gateway import gateway_app, key_of
from tests.llm.fakes import Scripted

from jindan.db.engine import Database
from jindan.db.models import LLMComparison
from jindan.embed.base import Embedder
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.settings import Settings


def sdk(http: httpx.Client, key: str, version: str = "v1") -> genai.Client:
    options = types.HttpOptions(base_url="http://testserver/", api_version=version, httpx_client=http)
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture()
def served(settings: Settings, db: Database, school: School, minilm: Embedder) -> Iterator[tuple[FastAPI, TestClient]]:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", text="둘 더하기 둘은 넷"), embedder=minilm)
    with TestClient(app) as client:
        yield app, client


def test_generate_content_and_shadow(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", text="둘 더하기 둘은 넷"))
    config = types.GenerateContentConfig(system_instruction="짧게 답하세요.", temperature=0, max_output_tokens=30)
    with TestClient(app) as client:
        r = sdk(client, key_of(school.headers["service"])).models.generate_content(
            model="gemini-1.5-flash", contents="2+2는?", config=config
        )
    assert r.text == "둘 더하기 둘은 넷"
    assert r.candidates and r.candidates[0].finish_reason == types.FinishReason.STOP
    meta = r.usage_metadata
    assert meta is not None and (meta.prompt_token_count, meta.candidates_token_count) == (10, 4)
    with db.session() as s:
        (row,) = s.scalars(select(LLMComparison))  # gemini-1.5-flash -> route chat, which is shadowed
    assert (row.route, row.shadow_text) == ("chat", "legacy api answer")


def test_stream_generate_content_v1beta(served: tuple[FastAPI, TestClient], school: School) -> None:
    _, client = served
    api = sdk(client, key_of(school.headers["teacher"]), version="v1beta")
    history = [
        types.Content(role="user", parts=[types.Part(text="2+2는?")]),
        types.Content(role="model", parts=[types.Part(text="4")]),
        types.Content(role="user", parts=[types.Part(text="왜?")]),
    ]
    chunks = list(api.models.generate_content_stream(model="gemini-2.0-flash", contents=history))
    assert "".join(c.text or "" for c in chunks) == "둘 더하기 둘은 넷" and len(chunks) == 5  # 4 words + finish
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata and last.usage_metadata.candidates_token_count == 4


def test_models_list_and_get_through_the_sdk(
    served: tuple[FastAPI, TestClient], school: School, settings: Settings
) -> None:
    _, client = served
    api = sdk(client, key_of(school.headers["service"]), version="v1beta")
    listed = {m.name: m for m in api.models.list()}
    assert set(listed) == {f"models/{n}" for n in settings.gateway.models}
    flash = api.models.get(model="gemini-1.5-flash")
    assert flash.name == "models/gemini-1.5-flash" and "generateContent" in (flash.supported_actions or [])
    assert "countTokens" not in (flash.supported_actions or [])  # only what is served is advertised
    with pytest.raises(errors.ClientError) as info:
        api.models.get(model="gemini-9-ultra")
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")


def test_request_maps_onto_router_options() -> None:
    from jindan.api.gateway.gemini import GenerateIn, to_router

    body = GenerateIn.model_validate(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}]},
            ],
            "systemInstruction": {"parts": [{"text": "sys"}]},
            "generationConfig": {"temperature": 0.1, "maxOutputTokens": 20, "stopSequences": ["x"], "seed": 3,
                                 "responseMimeType": "application/json",
                                 "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}},
        }
    )  # fmt: skip
    route, messages, opts = to_router(body, "gemini-1.5-flash", Settings())
    assert route == "chat" and [(m.role, m.content) for m in messages] == [("system", "sys"), ("user", "ab"),
                                                                             ("assistant", "c")]  # fmt: skip
    assert (opts.temperature, opts.max_tokens, opts.stop, opts.seed) == (0.1, 20, ("x",), 3)
    assert opts.json_schema == {"type": "object", "properties": {"a": {"type": "string"}}}


def test_embed_content(served: tuple[FastAPI, TestClient], school: School, minilm: Embedder) -> None:
    _, client = served
    api = sdk(client, key_of(school.headers["service"]))
    texts = ["이차방정식의 근의 공식", "the quadratic formula"]
    r = api.models.embed_content(model="text-embedding-004", contents=texts)
    docs = api.models.embed_content(
        model="text-embedding-004", contents=texts, config=types.EmbedContentConfig(task_type="RETRIEVAL_DOCUMENT")
    )
    assert r.embeddings and [len(e.values or []) for e in r.embeddings] == [384, 384]
    assert np.allclose(r.embeddings[0].values or [], minilm.embed_queries(texts[:1])[0], atol=1e-5)
    assert docs.embeddings  # RETRIEVAL_DOCUMENT texts are embedded as passages
    assert np.allclose(docs.embeddings[1].values or [], minilm.embed_passages(texts[1:])[0], atol=1e-5)
    single = client.post(
        "/v1beta/models/text-embedding-004:embedContent",
        headers={"x-goog-api-key": key_of(school.headers["service"])},
        json={"content": {"parts": [{"text": "근의 공식"}]}},
    )
    assert single.status_code == 200 and len(single.json()["embedding"]["values"]) == 384


@pytest.mark.parametrize(
    ("who", "model", "version", "status", "state"),
    [
        ("teacher", "gemini-9", "v1", 404, "NOT_FOUND"),
        ("teacher", "text-embedding-004", "v1", 400, "INVALID_ARGUMENT"),
        ("teacher", "gemini-1.5-flash", "v2", 404, "NOT_FOUND"),
        ("student", "gemini-1.5-flash", "v1", 403, "PERMISSION_DENIED"),
        ("nobody", "gemini-1.5-flash", "v1", 401, "UNAUTHENTICATED"),
    ],
)
def test_errors_in_gemini_shape(
    served: tuple[FastAPI, TestClient], school: School, who: str, model: str, version: str, status: int, state: str
) -> None:
    _, client = served
    key = "jdn_nobody_wrong" if who == "nobody" else key_of(school.headers[who])
    with pytest.raises(errors.ClientError) as info:
        sdk(client, key, version).models.generate_content(model=model, contents="hi")
    assert (info.value.code, info.value.status) == (status, state) and info.value.message


def test_bad_input_and_no_provider(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", "refuse"))
    key = key_of(school.headers["service"])
    with TestClient(app) as client:
        api = sdk(client, key)
        with pytest.raises(errors.ServerError) as down:
            api.models.generate_content(model="gemini-1.5-flash", contents="hi")
        image = types.Part(inline_data=types.Blob(mime_type="image/png", data=b"\x89PNG"))
        with pytest.raises(errors.ClientError, match=r"contents\[0\]\.parts\[0\]: inlineData parts are not supported"):
            api.models.generate_content(model="gemini-1.5-flash", contents=[types.Content(role="user", parts=[image])])
        no_sse = client.post("/v1/models/gemini-1.5-flash:streamGenerateContent", headers={"x-goog-api-key": key},
                             json={"contents": [{"parts": [{"text": "hi"}]}]})  # fmt: skip
    assert (down.value.code, down.value.status) == (503, "UNAVAILABLE")
    assert no_sse.status_code == 400 and no_sse.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_broken_stream_raises_in_the_sdk(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", "break", text="one two three four"))
    with TestClient(app) as client:
        stream = sdk(client, key_of(school.headers["service"])).models.generate_content_stream(
            model="gemini-1.5-flash", contents="hi"
        )
        seen: list[str] = []
        with pytest.raises(errors.ServerError, match="broke off"):
            for chunk in stream:
                seen.append(chunk.text or "")
    assert "".join(seen) == "one two"


def test_async_sdk(settings: Settings, db: Database, school: School) -> None:
    app, _ = gateway_app(settings, db, Scripted("llamacpp", text="비동기 답"))
    key = key_of(school.headers["service"])

    async def go() -> tuple[str, str]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport) as http:
                options = types.HttpOptions(base_url="http://testserver/", api_version="v1", httpx_async_client=http)
                api = genai.Client(api_key=key, http_options=options).aio
                whole = await api.models.generate_content(model="gemini-1.5-flash", contents="hi")
                stream = await api.models.generate_content_stream(model="gpt-4", contents="hi")
                parts = [c.text or "" async for c in stream]
        return whole.text or "", "".join(parts)

    assert asyncio.run(go()) == ("비동기 답", "비동기 답")


@pytest.mark.slow
def test_real_embedded_model_through_the_sdk(
    settings: Settings, db: Database, school: School, smol: LlamaCppProvider
) -> None:
    app, _ = gateway_app(settings, db, smol)
    config = types.GenerateContentConfig(max_output_tokens=12, temperature=0)
    with TestClient(app) as client:
        api = sdk(client, key_of(school.headers["service"]))
        whole = api.models.generate_content(model="gemini-1.5-flash", contents="What is 2+2?", config=config)
        parts = [c.text or "" for c in api.models.generate_content_stream(model="gemini-1.5-flash", contents="Hi!",
                                                                           config=config)]  # fmt: skip
    assert (whole.text or "").strip() and "".join(parts).strip()
    assert whole.usage_metadata and (whole.usage_metadata.candidates_token_count or 0) > 0
