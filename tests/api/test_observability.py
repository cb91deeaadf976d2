"""Request ids, Prometheus metrics recorded where things happen, JSON logs that never carry student text."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.fixtures.auth import School
from tests.llm.fakes import Scripted

from jindan.api.app import create_app
from jindan.api.logs import JsonFormatter
from jindan.db.engine import Database
from jindan.llm.router import Router
from jindan.settings import Settings

SECRET_SENTENCE = "내 비밀 답은 고양이가 피아노를 친다 7731"


@pytest.fixture()
def client(settings: Settings, db: Database, school: School) -> Iterator[TestClient]:
    settings.privacy.allow = ["openai"]
    settings.llm.routes = {"chat": ["ollama", "openai"]}  # type: ignore[dict-item]
    router = Router(settings, {"ollama": Scripted("ollama", "refuse"), "openai": Scripted("openai")}, backoff_s=0.01)
    with TestClient(create_app(settings, db, router)) as c:
        yield c


def test_request_id_echoed_generated_or_replaced(client: TestClient) -> None:
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    generated = client.get("/health").headers["x-request-id"]
    assert len(generated) == 36
    for bad in ("x" * 65, "a b", "<script>"):
        assert client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"] != bad
    r = client.get("/questions/2147483648", headers={"X-Request-ID": "req-9"})
    assert r.headers["x-request-id"] == "req-9"


def test_metrics_are_recorded_and_guarded(client: TestClient, school: School) -> None:
    assert client.get("/metrics", headers=school.headers["student"]).status_code == 403
    registry = client.app.state.metrics.registry  # type: ignore[attr-defined]
    ttft = {"provider": "openai", "model": "openai-model"}
    before = registry.get_sample_value("jindan_llm_ttft_seconds_count", ttft) or 0
    body = {"route": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    assert client.post("/llm/chat", json=body, headers=school.headers["teacher"]).json()["provider"] == "openai"
    assert registry.get_sample_value("jindan_llm_ttft_seconds_count", ttft) == before + 1
    assert registry.get_sample_value("jindan_llm_fallbacks_total", {"route": "chat", "provider": "ollama"}) == 1
    failed = {"route": "chat", "provider": "ollama", "outcome": "failed"}
    assert registry.get_sample_value("jindan_llm_attempts_total", failed) == 2  # one retry, then the fallback
    text = client.get("/metrics", headers=school.headers["admin"]).text
    assert 'jindan_http_request_seconds_count{method="POST",route="/llm/chat",status="2xx"} 1.0' in text
    client.get("/questions/424242", headers=school.headers["admin"])  # a 404, labelled by its template
    text = client.get("/metrics", headers=school.headers["admin"]).text
    assert 'route="/questions/{question_id}",status="4xx"' in text and "424242" not in text
    assert 'jindan_llm_breaker_state{provider="ollama"}' in text
    assert "jindan_index_building 0.0" in text
    assert school.headers["teacher"]["Authorization"][7:] not in text


def test_logs_are_json_with_ids_and_never_student_text(
    client: TestClient, school: School, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"route": "chat", "messages": [{"role": "user", "content": SECRET_SENTENCE}], "stream": False}
    client.post("/llm/chat", json=body, headers={**school.headers["teacher"], "X-Request-ID": "trace-1"})
    client.post(
        f"/students/{school.student}/responses",
        json={"responses": [{"question_id": 999999, "chosen_answer": SECRET_SENTENCE, "correct": False}]},
        headers=school.headers["student"],
    )
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert lines, "the requests were logged"
    joined = "\n".join(lines)
    assert SECRET_SENTENCE not in joined and "7731" not in joined
    assert school.headers["teacher"]["Authorization"][7:] not in joined
    access = [json.loads(line) for line in lines if '"jindan.access"' in line]
    chat = next(a for a in access if a["http"]["route"] == "/llm/chat")
    assert chat["request_id"] == "trace-1" and chat["role"] == "teacher" and chat["user_id"] == school.teacher
    assert chat["http"]["status"] == 200


def test_vector_search_latency_is_recorded(
    settings: Settings, ko_bank: Database, e5: object, tmp_path: object, school: School
) -> None:
    from pathlib import Path

    from jindan.rag.index import Indexer
    from jindan.rag.stack import SearchStack
    from jindan.vectors.qdrant_edge import QdrantEdgeStore

    store = QdrantEdgeStore(Path(str(tmp_path)) / "q")
    Indexer(ko_bank, store, e5).run()  # type: ignore[arg-type]
    router = Router(settings, {"llamacpp": Scripted("llamacpp")})
    stack = SearchStack(settings, ko_bank, router, store=store, embedder=e5)  # type: ignore[arg-type]
    with TestClient(create_app(settings, ko_bank, router, stack)) as c:
        registry = c.app.state.metrics.registry  # type: ignore[attr-defined]

        def searches() -> float:
            return registry.get_sample_value("jindan_vector_search_seconds_count", {"store": "qdrant-edge"}) or 0.0

        assert c.get("/questions/1/similar", headers=school.headers["student"]).status_code == 200
        after_similar = searches()
        r = c.post("/search", json={"text": "일차방정식 풀이"}, headers=school.headers["student"])
        assert r.status_code == 200
        assert after_similar >= 1 and searches() > after_similar  # each request's store searches, timed
    store.close()


def test_shadow_failures_are_counted(settings: Settings, db: Database, school: School) -> None:
    from jindan.llm.shadow import ShadowRunner
    from jindan.settings import ShadowSettings

    class Sink:
        def record(self, comparison: object) -> None:
            pass

    settings.privacy.allow, settings.privacy.shadow_student_text = ["openai"], True
    settings.llm.shadow = {"chat": ShadowSettings(provider="openai", sample=1.0)}
    shadow = ShadowRunner(settings, Sink(), providers={"openai:": Scripted("openai", "refuse")})
    router = Router(settings, {"llamacpp": Scripted("llamacpp")}, shadow=shadow)
    body = {"route": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    with TestClient(create_app(settings, db, router)) as c:
        assert c.post("/llm/chat", json=body, headers=school.headers["teacher"]).status_code == 200
        registry = c.app.state.metrics.registry  # type: ignore[attr-defined]
        for _ in range(100):
            if registry.get_sample_value("jindan_llm_shadow_runs_total", {"route": "chat", "outcome": "failed"}):
                break
            c.get("/health")  # the shadow task runs on the app's loop: give it turns
        assert registry.get_sample_value("jindan_llm_shadow_runs_total", {"route": "chat", "outcome": "failed"}) == 1


def test_answers_are_counted_in_postgresql_when_the_service_stops(
    settings: Settings, db: Database, school: School
) -> None:
    from sqlalchemy import select

    from jindan.db.models import LLMTraffic

    settings.privacy.allow = ["openai"]
    settings.llm.routes = {"chat": ["openai"]}  # type: ignore[dict-item]
    with TestClient(create_app(settings, db, Router(settings, {"openai": Scripted("openai")}))) as c:
        body = {"route": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": False}
        assert c.post("/llm/chat", json=body, headers=school.headers["teacher"]).status_code == 200
    with db.session() as s:
        (row,) = s.scalars(select(LLMTraffic))
    assert (row.route, row.provider, row.requests, row.completion_tokens) == ("chat", "openai", 1, 3)
