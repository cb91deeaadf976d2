"""No 5xx from bad input, limits, the responses API, readiness details: the front door as a client meets it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.fixtures.auth import School
from tests.llm.fakes import Scripted

from jindan.api.app import create_app
from jindan.db.engine import Database
from jindan.db.models import ResponseRow
from jindan.db.repositories import QuestionRepository
from jindan.domain.questions import QuestionIn
from jindan.llm.router import Router
from jindan.settings import Settings


def _questions(db: Database) -> list[int]:
    with db.session() as s:
        QuestionRepository(s).upsert(
            [QuestionIn(source="t", external_id=f"q{i}", body=f"{i}+{i}=?", answer=str(2 * i)) for i in range(1, 4)]
        )
        return [q.id for q in QuestionRepository(s).list()]


@pytest.fixture()
def client(settings: Settings, db: Database, school: School) -> Iterator[TestClient]:
    settings.limits.ai_per_minute = {"student": 6, "teacher": 60, "admin": 600, "service": 6000}
    settings.limits.ai_burst = 2
    router = Router(settings, {"llamacpp": Scripted("llamacpp")})
    with TestClient(create_app(settings, db, router)) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/questions/2147483648"),
        ("GET", "/questions/99999999999999999999999"),
        ("GET", "/questions/-1"),
        ("POST", "/questions/2147483648/hint"),
        ("GET", "/questions?subject=%00"),
        ("GET", "/questions?offset=99999999999999999999"),
        ("GET", "/questions/1/similar?level_min=1e308"),
        ("GET", "/questions/1/similar?exclude=2147483648"),
        ("POST", "/students/2147483648/diagnosis"),
        ("GET", "/classes/99999999999/mastery"),
    ],
)
def test_bad_input_is_a_4xx_never_a_5xx(client: TestClient, school: School, method: str, url: str) -> None:
    r = client.request(method, url, headers=school.headers["admin"], json={})
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")


def test_nul_in_a_body_is_refused(client: TestClient, db: Database, school: School) -> None:
    [q, *_] = _questions(db)
    url = f"/students/{school.student}/responses"
    body = {"responses": [{"question_id": q, "chosen_answer": "7\x00", "correct": False}]}
    assert client.post(url, json=body, headers=school.headers["student"]).status_code == 422
    assert client.post("/search", json={"text": "a\x00b"}, headers=school.headers["student"]).status_code == 422


def test_body_cap_without_reading_the_body(client: TestClient, school: School) -> None:
    big = b'{"text": "' + b"x" * (1 << 20) + b'"}'
    r = client.post("/search", content=big, headers={**school.headers["student"], "content-type": "application/json"})
    assert r.status_code == 413 and "request_id" in r.json()

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams in
        yield b'{"text": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    r = client.post(
        "/search", content=chunks(), headers={**school.headers["student"], "content-type": "application/json"}
    )
    assert r.status_code == 413


def test_a_body_over_the_cap_on_a_gateway_path_is_in_that_sdks_error_shape(client: TestClient, school: School) -> None:
    """The openai and google-genai SDKs read their own error bodies; the front door answers before any route."""
    big = b'{"model": "m", "messages": [{"role": "user", "content": "' + b"x" * (1 << 20) + b'"}]}'
    headers = {**school.headers["student"], "content-type": "application/json"}
    r = client.post("/v1/chat/completions", content=big, headers=headers)
    error = r.json()["error"]
    assert r.status_code == 413 and error["code"] == "request_too_large" and error["type"] == "invalid_request_error"
    assert "detail" not in r.json() and "request_id" in r.json()
    r = client.post("/v1beta/models/smollm2-135m:generateContent", content=big, headers=headers)
    assert r.status_code == 413 and r.json()["error"] == {
        "code": 413,
        "message": "request body over 1048576 bytes",
        "status": "INVALID_ARGUMENT",
    }
    assert "detail" in client.post("/search", content=big, headers=headers).json()  # the product API keeps its own


def test_ai_rate_limit_per_principal(client: TestClient, db: Database, school: School) -> None:
    [q, *_] = _questions(db)
    codes = [client.post(f"/questions/{q}/hint", json={}, headers=school.headers["student"]) for _ in range(3)]
    assert all(r.status_code != 429 for r in codes[:2]), [r.status_code for r in codes]
    assert codes[2].status_code == 429 and int(codes[2].headers["retry-after"]) >= 1
    # another principal has its own bucket; reading the bank is not an AI action
    assert client.post(f"/questions/{q}/hint", json={}, headers=school.headers["teacher"]).status_code != 429
    assert client.get("/questions", headers=school.headers["student"]).status_code == 200


def test_responses_are_recorded_in_one_transaction(client: TestClient, db: Database, school: School) -> None:
    q1, q2, _ = _questions(db)
    url = f"/students/{school.student}/responses"
    student = school.headers["student"]
    body = {
        "attempt": "quiz-1",
        "responses": [
            {"question_id": q1, "chosen_answer": "2", "correct": True, "time_taken_ms": 5400},
            {"question_id": q2, "chosen_answer": "5", "correct": False},
        ],
    }
    first = client.post(url, json=body, headers=student)
    assert first.status_code == 201, first.text
    again = client.post(url, json={**body, "responses": body["responses"][:1]}, headers=student).json()
    assert again["attempt_id"] == first.json()["attempt_id"]  # the same sitting continues
    bad = {"responses": [{"question_id": q1, "correct": True}, {"question_id": 999999, "correct": True}]}
    r = client.post(url, json=bad, headers=student)
    assert r.status_code == 404 and "999999" in r.json()["detail"]
    with db.session() as s:
        rows = s.query(ResponseRow).filter_by(user_id=school.student).order_by(ResponseRow.seq).all()
    assert [(r.question_id, r.correct, r.seq) for r in rows] == [(q1, True, 0), (q2, False, 1), (q1, True, 2)]
    listed = client.get(url, headers=school.headers["teacher"]).json()
    assert len(listed) == 3 and listed[0]["seq"] == 2
    # another student's sitting cannot be continued
    other = {"attempt": "quiz-1", "responses": [{"question_id": q1, "correct": True}]}
    assert (
        client.post(
            f"/students/{school.other_student}/responses", json=other, headers=school.headers["admin"]
        ).status_code
        == 403
    )


def test_ready_details_only_for_operators(client: TestClient, school: School) -> None:
    anonymous = client.get("/ready").json()
    assert "components" not in anonymous and anonymous["privacy"].startswith("local-only")
    student = client.get("/ready", headers=school.headers["student"]).json()
    assert "components" not in student
    admin = client.get("/ready", headers=school.headers["admin"]).json()
    assert {c["component"] for c in admin["components"]} >= {"database", "llm:llamacpp"}


def test_a_vector_store_that_is_down_is_a_503_without_its_url(settings: Settings, db: Database, school: School) -> None:
    settings.vectors.store = "qdrant"
    settings.qdrant.url = "http://127.0.0.1:9"  # nothing listens on the discard port
    _questions(db)
    with TestClient(create_app(settings, db, Router(settings, {"llamacpp": Scripted("llamacpp")}))) as c:
        r = c.post("/search", json={"text": "two plus two"}, headers=school.headers["student"])
        assert r.status_code == 503, r.text
        assert "127.0.0.1" not in r.text and ":9" not in r.text and "retry-after" in r.headers
        r = c.get("/questions/1/similar", headers=school.headers["student"])
        assert r.status_code == 503 and "127.0.0.1" not in r.text


def test_statement_timeout_is_a_503(settings: Settings) -> None:
    import psycopg
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from jindan.api.errors import handle

    slow = Database(settings, statement_timeout_s=0.05)
    try:
        with pytest.raises(OperationalError) as info, slow.session() as s:
            s.execute(text("SELECT pg_sleep(2)"))
        assert isinstance(info.value.orig, psycopg.errors.QueryCanceled)  # the timeout, not a database down
        answer = handle(info.value)
        assert answer.status_code == 503 and b"took too long" in answer.body
    finally:
        slow.close()


def test_a_full_model_queue_is_a_429_with_retry_after(settings: Settings, db: Database, school: School) -> None:
    router = Router(settings, {"llamacpp": Scripted("llamacpp", "busy")})
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    with TestClient(create_app(settings, db, router)) as c:
        r = c.post("/llm/chat", json=body, headers=school.headers["teacher"])
    assert r.status_code == 429 and r.headers["retry-after"] == "3", r.text
