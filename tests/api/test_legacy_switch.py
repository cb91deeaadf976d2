"""The legacy switch as the service shows and enforces it: a gateway call whose model maps to a legacy-only
route gets a 503 naming the switch (OpenAI and Gemini wire), /ready and the operator console say so, and
switching back on restores the route on the next refresh."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient
from google.genai import errors
from pydantic import SecretStr
from tests.api.test_gateway_gemini_tools import sdk as gemini_sdk
from tests.fixtures.auth import School
from tests.fixtures.gateway import key_of
from tests.llm.fakes import Scripted

from jindan.api.app import create_app
from jindan.db.engine import Database
from jindan.llm.legacy import LegacyGate
from jindan.llm.legacy_usage import switch_off, switch_on
from jindan.llm.router import Router
from jindan.rag.stack import SearchStack
from jindan.settings import Settings

ASK: Any = [{"role": "user", "content": "2+2?"}]


def legacy_app(settings: Settings, db: Database) -> tuple[Any, Scripted]:
    """Route chat answered by OpenAI only (as before the move), route explain by the local model first."""
    settings.llm.routes = {"chat": ["openai"], "explain": ["llamacpp", "gemini"]}  # type: ignore[dict-item]
    settings.privacy.allow = ["openai", "gemini"]
    settings.gateway.models = {"gpt-4o-mini": "chat", "gemini-1.5-flash": "chat", "gpt-4": "explain"}  # type: ignore[dict-item]
    api = Scripted("openai", text="legacy answer")
    router = Router(settings, {"openai": api, "llamacpp": Scripted("llamacpp")}, backoff_s=0.0)  # type: ignore[dict-item]
    stack: Any = SearchStack(settings, db, router)
    return create_app(settings, db, router, stack), api


def test_switched_off_route_answers_503_with_the_reason(settings: Settings, db: Database, school: School) -> None:
    app, api = legacy_app(settings, db)
    switch_off(db, settings, quiet_days=7, by="ops")
    key = key_of(school.headers["service"])
    with TestClient(app) as client:
        sdk = openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)
        with pytest.raises(openai.InternalServerError, match=r"legacy providers .* are switched off") as info:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK)
        assert info.value.status_code == 503 and "jindan legacy on" in str(info.value.body)
        assert info.value.response.headers["x-should-retry"] == "false"  # the SDKs do not retry a switch-off
        with pytest.raises(openai.InternalServerError, match="switched off"):  # the Responses API too
            sdk.responses.create(model="gpt-4o-mini", input="2+2?")
        with pytest.raises(errors.ServerError, match="switched off"):
            gemini_sdk(client, key).models.generate_content(model="gemini-1.5-flash", contents="2+2?")
        local = sdk.chat.completions.create(model="gpt-4", messages=ASK)  # explain: the local model answers
        assert local.choices[0].message.content == "answer from llamacpp" and api.calls == 0

        ready = client.get("/ready", headers=school.headers["service"]).json()
        assert ready["legacy"].startswith("off since") and "by ops" in ready["legacy"]
        assert ready["legacy"].endswith("routes with no other provider: chat")
        signed = client.post("/console/signin", data={"credential": key}, follow_redirects=False)
        page = client.get("/console/ops", cookies={"jindan_session": signed.cookies["jindan_session"]})
        assert page.status_code == 200
        assert "기존 API(gemini, openai) 차단됨" in page.text and "jindan legacy on" in page.text
        assert "다른 제공자가 없는 경로: chat" in page.text

        switch_on(db, by="ops")
        gate = app.state.router.gate
        assert isinstance(gate, LegacyGate)
        gate.refresh()  # what every replica does every few seconds
        again = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK)
        assert again.choices[0].message.content == "legacy answer" and api.calls == 1
        assert client.get("/ready").json()["legacy"].startswith("on (switched back on")


def test_legacy_status_lists_the_model_names_gateway_clients_sent(
    settings: Settings, db: Database, school: School
) -> None:
    from jindan.llm.legacy_usage import status, today

    app, _ = legacy_app(settings, db)
    key = key_of(school.headers["service"])
    with TestClient(app) as client:  # its shutdown writes the traffic counts
        sdk = openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)
        sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK)
        list(sdk.responses.create(model="gpt-4o-mini", input="2+2?", stream=True))
        gemini_sdk(client, key).models.generate_content(model="gemini-1.5-flash", contents="2+2?")
        sdk.chat.completions.create(model="gpt-4", messages=ASK)  # explain: the local model, not legacy
        client.post("/v1/chat/completions", json={"model": "chat", "messages": ASK},
                    headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    rows = [(u["day"], u["client_model"], u["route"], u["provider"], u["requests"])
            for u in status(db, settings)["traffic"]]  # fmt: skip
    day = today().isoformat()
    assert rows == [(day, "gpt-4o-mini", "chat", "openai", 2), (day, "gemini-1.5-flash", "chat", "openai", 1),
                    (day, "chat", "chat", "openai", 1)]  # fmt: skip


def test_openai_embeddings_are_refused_while_switched_off(settings: Settings, db: Database, school: School) -> None:
    settings.embed.provider, settings.openai.api_key = "openai", SecretStr("sk-test")
    app, _ = legacy_app(settings, db)
    settings.gateway.models = {"text-embedding-3-small": "embed"}  # type: ignore[dict-item]
    switch_off(db, settings, quiet_days=7, by="ops")
    key = key_of(school.headers["service"])
    with TestClient(app) as client:
        sdk = openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)
        with pytest.raises(openai.InternalServerError, match=r"OpenAI embeddings \(api.openai.com\) refused") as info:
            sdk.embeddings.create(model="text-embedding-3-small", input="분수의 덧셈")
        assert info.value.status_code == 503 and "jindan legacy on" in str(info.value.body)
        assert info.value.response.headers["x-should-retry"] == "false"
        ready = client.get("/ready", headers=school.headers["service"]).json()
        assert "embeddings (openai) refused: re-index with a local embedder" in ready["legacy"]
        signed = client.post("/console/signin", data={"credential": key}, follow_redirects=False)
        page = client.get("/console/ops", cookies={"jindan_session": signed.cookies["jindan_session"]})
        assert "임베딩(openai) 차단됨" in page.text
