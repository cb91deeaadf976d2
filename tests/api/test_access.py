"""Every route x every kind of caller: who gets in, who gets 401, who gets 403 (before any work is done).

The expectations are written out here, independent of the rule table in the code; a route without a row fails
the test, so no route can land without a decision about who may call it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.fixtures.auth import School
from tests.llm.fakes import Scripted

from jindan.api.app import create_app
from jindan.api.gateway import gemini, openai, responses_api
from jindan.api.routes import diagnosis, diagnostic, health, llm, ops, questions, responses, search
from jindan.db.engine import Database
from jindan.llm.router import Router
from jindan.settings import Settings

CALLERS = ("anonymous", "student_own", "student_other", "teacher_own", "teacher_other", "admin", "service")
ALL = set(CALLERS) - {"anonymous"}
STAFF = {"teacher_own", "teacher_other", "admin", "service"}
OPS = {"admin", "service"}
PUBLIC = set(CALLERS)

# (method, path template) -> callers that get in (anything but 401/403); the rest: anonymous 401, others 403
EXPECT: dict[tuple[str, str], set[str]] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): OPS,
    ("GET", "/questions"): ALL,
    ("GET", "/questions/{question_id}"): ALL,
    ("GET", "/questions/{question_id}/similar"): ALL,
    ("POST", "/search"): ALL,
    ("POST", "/similar"): ALL,
    ("POST", "/questions/{question_id}/explain"): ALL,
    ("POST", "/questions/{question_id}/hint"): ALL,
    ("POST", "/ask"): ALL,
    ("POST", "/llm/chat"): STAFF,
    ("POST", "/students/{user_id}/responses"): {"student_own", "admin", "service"},
    ("GET", "/students/{user_id}/responses"): {"student_own", "teacher_own", "admin", "service"},
    ("POST", "/students/{user_id}/diagnosis"): {"student_own", "teacher_own", "admin", "service"},
    ("GET", "/classes/{class_id}/mastery"): {"teacher_own", "admin", "service"},
    ("POST", "/students/{user_id}/diagnostic"): {"student_own", "teacher_own", "admin", "service"},
    ("GET", "/students/{user_id}/diagnostic"): {"student_own", "teacher_own", "admin", "service"},
    ("GET", "/students/{user_id}/diagnostic/{session_id}"): {"student_own", "teacher_own", "admin", "service"},
    ("POST", "/students/{user_id}/diagnostic/{session_id}/answers"): {"student_own", "admin", "service"},
    ("POST", "/classes/{class_id}/diagnostic"): {"teacher_own", "admin", "service"},
    ("GET", "/classes/{class_id}/diagnostic"): {"teacher_own", "admin", "service"},
    ("POST", "/v1/chat/completions"): STAFF,
    ("POST", "/v1/embeddings"): OPS,
    ("GET", "/v1/models"): STAFF,
    ("GET", "/v1/models/{model}"): STAFF,
    ("POST", "/v1/responses"): STAFF,
    ("GET", "/v1/responses/{response_id}"): STAFF,
    ("POST", "/{version}/models/{model}:generateContent"): STAFF,
    ("POST", "/{version}/models/{model}:streamGenerateContent"): STAFF,
    ("POST", "/{version}/models/{model}:batchEmbedContents"): OPS,
    ("POST", "/{version}/models/{model}:embedContent"): OPS,
    ("GET", "/{version}/models"): STAFF,
    ("GET", "/{version}/models/{model}"): STAFF,
}

BODIES = {
    "/search": {"text": "probability of two dice"},
    "/similar": {"text": "probability of two dice"},
    "/ask": {"text": "what is a prime?"},
    "/llm/chat": {"messages": [{"role": "user", "content": "hi"}], "stream": False},
    "/v1/chat/completions": {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {"model": "gpt-3.5-turbo", "input": "hi"},
    "/{version}/models/{model}:generateContent": {"contents": [{"parts": [{"text": "hi"}]}]},
    "/questions/{question_id}/hint": {"student_answer": "7"},
    "/students/{user_id}/responses": {"responses": [{"question_id": 1, "correct": True}]},
    "/students/{user_id}/diagnostic": {"unit": "일차방정식"},
    "/classes/{class_id}/diagnostic": {"unit": "일차방정식"},
    "/students/{user_id}/diagnostic/{session_id}/answers": {"question_id": 1, "correct": True},
}


@pytest.fixture()
def client(settings: Settings, db: Database, school: School) -> Iterator[TestClient]:
    router = Router(settings, {"llamacpp": Scripted("llamacpp")})
    with TestClient(create_app(settings, db, router)) as c:
        yield c


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """Every route the service documents, read from its OpenAPI schema (the console's pages are not in it)."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


def _path(template: str, caller: str, school: School) -> str:
    own = not caller.endswith("_other")
    student = school.student if own else school.other_student
    klass = school.class_own if own else school.class_other
    return template.format(
        question_id=1,
        user_id=student,
        class_id=klass,
        session_id=1,
        version="v1beta",
        model="gpt-3.5-turbo",
        response_id="resp_0",
    )


def test_every_route_has_a_row_and_every_row_a_route(client: TestClient) -> None:
    routes = _routes(client)
    # what the API's routers declare (a route hidden from the schema would escape the matrix otherwise)
    declared = {
        (method, r.path)
        for module in (
            diagnosis,
            diagnostic,
            health,
            llm,
            ops,
            questions,
            responses,
            search,
            gemini,
            openai,
            responses_api,
        )
        for r in module.router.routes
        for method in getattr(r, "methods", ())
    }
    assert declared and declared == set(routes), declared ^ set(routes)
    missing = [r for r in routes if r not in EXPECT]
    assert not missing, f"routes without an access rule in this test: {missing}"
    stale = [r for r in EXPECT if r not in routes]
    assert not stale, f"rows for routes the service does not have: {stale}"


@pytest.mark.parametrize("caller", CALLERS)
def test_route_x_caller(client: TestClient, school: School, caller: str) -> None:
    headers = school.headers[caller.split("_")[0]]
    wrong = []
    routes = _routes(client)
    assert len(routes) == len(EXPECT)
    for method, template in routes:
        url = _path(template, caller, school)
        r = client.request(method, url, headers=headers, json=BODIES.get(template))
        if caller in EXPECT[(method, template)]:
            ok = r.status_code not in (401, 403)
        else:
            ok = r.status_code == (401 if caller == "anonymous" else 403)
        if not ok:
            wrong.append(f"{method} {url}: {r.status_code} {r.text[:120]}")
    assert not wrong, "\n".join(wrong)


def test_403_comes_before_409(client: TestClient, school: School) -> None:
    """No diagnosis model is fitted: the owner gets 409, another student 403 (not 409)."""
    url = f"/students/{school.student}/diagnosis"
    assert client.post(url, headers=school.headers["student"]).status_code == 409
    other = f"/students/{school.other_student}/diagnosis"
    assert client.post(other, headers=school.headers["student"]).status_code == 403


def test_students_never_receive_answers(client: TestClient, db: Database, school: School, tmp_path: object) -> None:
    from jindan.db.repositories import QuestionRepository
    from jindan.domain.questions import QuestionIn

    with db.session() as s:
        QuestionRepository(s).upsert(
            [QuestionIn(source="t", external_id="q1", body="2+2?", answer="4", explanation="two and two")]
        )
    for who, visible in (("student", False), ("teacher", True), ("admin", True), ("service", True)):
        page = client.get("/questions", headers=school.headers[who]).json()
        one = client.get(f"/questions/{page['items'][0]['id']}", headers=school.headers[who]).json()
        for item in (page["items"][0], one):
            assert (item["answer"] == "4" and item["explanation"] == "two and two") is visible, who
            if not visible:
                assert item["answer"] is None and item["explanation"] is None
