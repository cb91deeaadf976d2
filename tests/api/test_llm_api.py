from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fixtures.sse import events
from tests.llm.fakes import Scripted

from jindan.api.app import create_app
from jindan.db.engine import Database
from jindan.llm.router import Router
from jindan.settings import Settings


def client_for(settings: Settings, db: Database, providers: dict[str, Any]) -> TestClient:
    settings.server.demo_import = False
    settings.llm.routes = {"hint": list(providers)}  # type: ignore[dict-item]
    settings.privacy.allow = ["openai"]  # scripted stand-ins carry the real providers' names
    return TestClient(create_app(settings, db, Router(settings, providers, backoff_s=0.01)))


@pytest.fixture()
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with client_for(settings, db, {"ollama": Scripted("ollama", "refuse"), "openai": Scripted("openai")}) as c:
        yield c


def test_sse_stream_started_deltas_usage(client: TestClient) -> None:
    r = client.post("/llm/chat", json={"route": "hint", "messages": [{"role": "user", "content": "힌트 주세요"}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    evs = events(r.text)
    assert evs[0] == ("started", {"provider": "openai", "model": "openai-model"})
    assert "".join(d["text"] for k, d in evs if k == "delta") == "answer from openai"
    assert evs[-1][0] == "usage" and evs[-1][1]["completion_tokens"] == 3


def test_json_answer(client: TestClient) -> None:
    r = client.post(
        "/llm/chat", json={"route": "hint", "stream": False, "messages": [{"role": "user", "content": "x"}]}
    )
    body = r.json()
    assert (body["provider"], body["text"], body["error"]) == ("openai", "answer from openai", None)


def test_mid_stream_error_event_keeps_partial(settings: Settings, db: Database) -> None:
    with client_for(settings, db, {"ollama": Scripted("ollama", "break", text="a b c d")}) as c:
        evs = events(c.post("/llm/chat", json={"route": "hint", "messages": [{"role": "user", "content": "x"}]}).text)
    assert evs[-1][0] == "error" and evs[-1][1]["partial"] == "a b"


def test_all_down_is_503_before_streaming(settings: Settings, db: Database) -> None:
    with client_for(settings, db, {"ollama": Scripted("ollama", "refuse")}) as c:
        r = c.post("/llm/chat", json={"route": "hint", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 503 and "refused" in r.json()["cause"]  # the local operator sees the cause


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"route": "admin", "messages": [{"role": "user", "content": "x"}]},
        {"messages": [{"role": "user", "content": "x" * 50_001}]},
    ],
)
def test_bad_requests_are_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/llm/chat", json=body).status_code == 422


def test_ollama_model_is_preloaded_at_startup(settings: Settings, db: Database, httpserver) -> None:  # type: ignore[no-untyped-def]
    import time

    httpserver.expect_request(
        "/api/chat",
        json={"model": "llama3.1:8b", "messages": [], "stream": False, "keep_alive": "30m", "tools": []},
    ).respond_with_json(
        {
            "model": "llama3.1:8b",
            "created_at": "2026-11-25T10:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "load",
        }
    )
    settings.server.demo_import = False
    settings.llm.provider = "ollama"
    settings.llm.model = "llama3.1:8b"
    settings.ollama.hosts = [httpserver.url_for("")]
    with TestClient(create_app(settings, db)) as c:
        for _ in range(100):
            if httpserver.log:
                break
            time.sleep(0.02)
        assert c.get("/health").status_code == 200
    assert len(httpserver.log) == 1 and httpserver.log[0][1].status_code == 200
