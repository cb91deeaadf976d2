"""Adaptive diagnostic sessions over the Korean bank, on real PostgreSQL, through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.fixtures.auth import School
from tests.llm.fakes import Scripted

from jindan.api.app import create_app
from jindan.console.demo import BANK
from jindan.db.engine import Database
from jindan.db.models import Concept, DiagnosticSession, Question, ResponseRow, question_concepts
from jindan.importers.questions import import_questions
from jindan.llm.router import Router
from jindan.settings import Settings

UNIT = "일차방정식"
NARRATIVE = '{"student": "일차방정식을 조금 더 연습해 봐요.", "teacher": "일차방정식 진단이 끝났습니다."}'


@pytest.fixture()
def bank(db: Database) -> dict[int, tuple[str, str]]:
    """The packaged Korean bank; question id -> (unit, answer key)."""
    import_questions(db, BANK, source="ko-math")
    with db.session() as s:
        return {i: (subj, key) for i, subj, key in s.execute(select(Question.id, Question.subject, Question.answer))}


def _app(settings: Settings, db: Database) -> TestClient:
    return TestClient(create_app(settings, db, Router(settings, {"llamacpp": Scripted("llamacpp", text=NARRATIVE)})))


@pytest.fixture()
def client(settings: Settings, db: Database, school: School, bank: object) -> Iterator[TestClient]:
    with _app(settings, db) as c:
        yield c


def _take(client: TestClient, school: School, sid: int, bank: dict[int, tuple[str, str]], first: dict) -> list[dict]:  # type: ignore[type-arg]
    """Answer every question until the test stops: right on odd steps (the key as typed), wrong on even ones."""
    steps, state = [], first
    h = school.headers["student"]
    while state["status"] == "active":
        q = state["question"]
        right = len(steps) % 2 == 1
        key = bank[q["id"]][1]
        typed = key[0] if q["choices"] else key  # a multiple-choice question is answered by its number (④)
        body = {"question_id": q["id"], "answer": typed if right else "틀린 답"}
        r = client.post(f"/students/{school.student}/diagnostic/{sid}/answers", json=body, headers=h)
        assert r.status_code == 200, r.text
        state = r.json()
        assert state["correct"] is right
        steps.append(state)
    return steps


def test_a_student_takes_a_whole_test_inside_the_unit(
    client: TestClient, school: School, bank: dict, db: Database
) -> None:  # type: ignore[type-arg]
    h = school.headers["student"]
    r = client.post(f"/students/{school.student}/diagnostic", json={"unit": UNIT, "max_questions": 8}, headers=h)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["asked"] == 0 and first["question"]["subject"] == UNIT and "answer" not in first["question"]
    assert first["estimates"] and all(e["confidence"] < 0.5 for e in first["estimates"])
    steps = _take(client, school, first["id"], bank, first)
    asked = [first["question"]["id"]] + [s["question"]["id"] for s in steps if s["question"]]
    assert len(asked) == len(set(asked)) == 8  # no repeats; stopped at the maximum
    assert all(bank[q][0] == UNIT for q in asked)  # never outside the unit
    assert [s["asked"] for s in steps] == list(range(1, 9))
    done = steps[-1]
    assert done["status"] == "done" and done["question"] is None and done["stopped"] == "max_questions"
    d = done["diagnosis"]
    assert d["responses"] == 8 and d["narrative"]["source"] == "llm"
    for c in d["concepts"]:
        assert 0 <= c["low"] <= c["mastery"] <= c["high"] <= 1
    assert d["weakest"] and {n["question_id"] for n in d["recommendations"]}.isdisjoint(asked)
    with db.session() as s:  # the answers are ordinary responses too
        assert s.scalar(select(func.count()).select_from(ResponseRow)) == 8
    again = client.get(f"/students/{school.student}/diagnostic/{first['id']}", headers=h).json()
    assert again["diagnosis"] == d  # stored, narrative included
    late = client.post(
        f"/students/{school.student}/diagnostic/{first['id']}/answers",
        json={"question_id": asked[0], "correct": True},
        headers=h,
    )
    assert late.status_code == 409


def test_a_restart_mid_test_resumes_it(settings: Settings, db: Database, school: School, bank: dict) -> None:  # type: ignore[type-arg]
    h = school.headers["student"]
    with _app(settings, db) as c:
        state = c.post(f"/students/{school.student}/diagnostic", json={"unit": UNIT}, headers=h).json()
        for _ in range(2):
            body = {"question_id": state["question"]["id"], "correct": True}
            state = c.post(f"/students/{school.student}/diagnostic/{state['id']}/answers", json=body, headers=h).json()
    fresh = Database(settings)  # a new process: new engine, nothing kept in memory
    try:
        with _app(settings, fresh) as c:
            resumed = c.get(f"/students/{school.student}/diagnostic/{state['id']}", headers=h).json()
            assert resumed["asked"] == 2 and resumed["question"] == state["question"]
            assert resumed["estimates"] == state["estimates"]
            body = {"question_id": resumed["question"]["id"], "correct": False}
            nxt = c.post(f"/students/{school.student}/diagnostic/{state['id']}/answers", json=body, headers=h)
            assert nxt.status_code == 200 and nxt.json()["asked"] == 3
    finally:
        fresh.close()


def test_only_the_pending_question_counts_and_bad_scopes_are_4xx(
    client: TestClient, school: School, bank: dict
) -> None:  # type: ignore[type-arg]
    h = school.headers["student"]
    url = f"/students/{school.student}/diagnostic"
    state = client.post(url, json={"unit": UNIT}, headers=h).json()
    other = next(q for q in bank if q != state["question"]["id"])
    wrong = client.post(f"{url}/{state['id']}/answers", json={"question_id": other, "correct": True}, headers=h)
    assert wrong.status_code == 409 and str(state["question"]["id"]) in wrong.json()["detail"]
    empty = client.post(f"{url}/{state['id']}/answers", json={"question_id": state["question"]["id"]}, headers=h)
    assert empty.status_code == 422 and "answer" in str(empty.json()["detail"])  # neither an answer nor a verdict
    null = client.post(f"{url}/{state['id']}/answers", json={"question_id": 1, "correct": None}, headers=h)
    assert null.status_code == 422
    assert client.post(url, json={}, headers=h).status_code == 422
    assert client.post(url, json={"unit": "없는 단원"}, headers=h).status_code == 404
    assert client.get(f"{url}/999999", headers=h).status_code == 404
    other_student = f"/students/{school.other_student}/diagnostic/{state['id']}"
    assert client.get(other_student, headers=school.headers["admin"]).status_code == 404  # not that student's


def test_a_concept_list_scopes_the_questions(client: TestClient, school: School, db: Database) -> None:
    with db.session() as s:
        cid = s.scalar(select(Concept.id).where(Concept.name == "가감법"))
        allowed = set(s.scalars(select(question_concepts.c.question_id).where(question_concepts.c.concept_id == cid)))
    h = school.headers["student"]
    url = f"/students/{school.student}/diagnostic"
    state = client.post(url, json={"concepts": [cid], "max_questions": 10}, headers=h).json()
    seen = []
    while state["status"] == "active":
        seen.append(state["question"]["id"])
        body = {"question_id": seen[-1], "correct": len(seen) % 2 == 0}
        state = client.post(f"{url}/{state['id']}/answers", json=body, headers=h).json()
    assert set(seen) <= allowed and len(seen) == min(10, len(allowed))
    assert [c["concept_id"] for c in state["diagnosis"]["concepts"]] == [cid]


def test_a_teacher_starts_one_for_the_class_and_sees_who_finished(client: TestClient, school: School) -> None:
    t = school.headers["teacher"]
    body = {"unit": UNIT, "max_questions": 3}
    started = client.post(f"/classes/{school.class_own}/diagnostic", json=body, headers=t)
    assert started.status_code == 201, started.text
    assert [s["user_id"] for s in started.json()["sessions"]] == [school.student]
    again = client.post(f"/classes/{school.class_own}/diagnostic", json=body, headers=t).json()
    assert again["sessions"] == started.json()["sessions"]  # an active session of that scope is kept
    h = school.headers["student"]
    mine = client.get(f"/students/{school.student}/diagnostic", headers=h).json()
    sid = mine[0]["id"]
    assert mine[0]["status"] == "active" and mine[0]["unit"] == UNIT
    progress = client.get(f"/classes/{school.class_own}/diagnostic", headers=t).json()
    assert progress["students"][0]["session"]["status"] == "active"
    state = client.get(f"/students/{school.student}/diagnostic/{sid}", headers=h).json()
    while state["status"] == "active":
        body2 = {"question_id": state["question"]["id"], "correct": True}
        state = client.post(f"/students/{school.student}/diagnostic/{sid}/answers", json=body2, headers=h).json()
    progress = client.get(f"/classes/{school.class_own}/diagnostic", headers=t).json()
    assert progress["students"][0]["session"]["status"] == "done"
    assert progress["students"][0]["session"]["asked"] == 3


def test_questions_imported_mid_test_do_not_break_it(
    client: TestClient, school: School, db: Database, tmp_path: Path
) -> None:
    """The bank grows while a student is mid-test (a new question on a new concept of the unit): the test goes
    on over the concepts it started with and never asks the new one."""
    h = school.headers["student"]
    url = f"/students/{school.student}/diagnostic"
    state = client.post(url, json={"unit": UNIT, "max_questions": 6}, headers=h).json()
    extra = tmp_path / "more.jsonl"
    row = {"id": "ko-new-1", "body": "$3x-1=8$의 해를 구하시오.", "subject": UNIT, "grade": "중1", "level": 2}
    extra.write_text(json.dumps({**row, "answer": "3", "concepts": ["새 개념"]}, ensure_ascii=False) + "\n")
    import_questions(db, extra, source="ko-math")
    with db.session() as s:
        new_id = s.scalar(select(Question.id).where(Question.external_id == "ko-new-1"))
    asked = []
    while state["status"] == "active":
        asked.append(state["question"]["id"])
        body = {"question_id": asked[-1], "correct": len(asked) % 2 == 0}
        r = client.post(f"{url}/{state['id']}/answers", json=body, headers=h)
        assert r.status_code == 200, r.text
        state = r.json()
    assert new_id not in asked and len(asked) == len(set(asked))
    assert "새 개념" not in {c["name"] for c in state["diagnosis"]["concepts"]}


def test_class_starts_are_one_per_student_and_scope(client: TestClient, school: School, db: Database) -> None:
    """Starts sent at once, or with the concepts in another order, keep one active session per student and scope;
    an unknown unit is a 404 even for a class without students; only students take a test."""
    t = school.headers["teacher"]
    url = f"/classes/{school.class_own}/diagnostic"
    with ThreadPoolExecutor(4) as pool:
        started = list(pool.map(lambda _: client.post(url, json={"unit": "이차함수"}, headers=t), range(4)))
    assert {r.status_code for r in started} == {201}
    assert len({r.json()["sessions"][0]["session_id"] for r in started}) == 1
    with db.session() as s:
        a, b = s.scalars(select(Concept.id).order_by(Concept.id).limit(2)).all()
    first = client.post(url, json={"concepts": [a, b]}, headers=t).json()
    assert client.post(url, json={"concepts": [b, a, b]}, headers=t).json() == first
    with db.session() as s:
        active = s.scalar(
            select(func.count()).select_from(DiagnosticSession).where(DiagnosticSession.user_id == school.student)
        )
    assert active == 2
    assert (
        client.post(f"/classes/{school.class_own}/diagnostic", json={"unit": "없는단원"}, headers=t).status_code == 404
    )
    admin = school.headers["admin"]
    teacher_test = client.post(f"/students/{school.teacher}/diagnostic", json={"unit": UNIT}, headers=admin)
    assert teacher_test.status_code == 422 and "not a student" in teacher_test.json()["detail"]


def test_a_question_without_an_answer_key_is_asked_only_where_no_question_has_one(
    client: TestClient, school: School, db: Database, tmp_path: Path
) -> None:
    """A student's own answer cannot be graded without a key (the console could never go on): such a question is
    not asked while the unit has keyed ones; a unit with none is still served to a platform that sends `correct`."""
    extra = tmp_path / "keyless.jsonl"
    rows = [
        {"id": "ko-nokey-1", "body": "$2x=6$일 때 $x$의 값은?", "subject": UNIT, "concepts": ["일차방정식의 풀이"]},
        {"id": "ko-nokey-2", "body": "$x+1=3$을 푸시오.", "subject": "채점 없는 단원", "concepts": ["새 개념"]},
    ]
    extra.write_text("".join(json.dumps({**r, "grade": "중1", "level": 1}, ensure_ascii=False) + "\n" for r in rows))
    import_questions(db, extra, source="ko-math")
    with db.session() as s:
        keyless = s.scalar(select(Question.id).where(Question.external_id == "ko-nokey-1"))
        in_unit = s.scalar(select(func.count()).select_from(Question).where(Question.subject == UNIT))
    h = school.headers["student"]
    url = f"/students/{school.student}/diagnostic"
    state = client.post(url, json={"unit": UNIT, "max_questions": 50, "target_confidence": 0.99}, headers=h).json()
    asked = []
    while state["status"] == "active":
        asked.append(state["question"]["id"])
        body = {"question_id": asked[-1], "correct": True}
        state = client.post(f"{url}/{state['id']}/answers", json=body, headers=h).json()
    assert keyless not in asked and len(asked) == in_unit - 1  # every keyed question, never the keyless one
    only = client.post(url, json={"unit": "채점 없는 단원"}, headers=h).json()
    assert only["question"] is not None
    verdict = {"question_id": only["question"]["id"], "correct": False}
    assert client.post(f"{url}/{only['id']}/answers", json=verdict, headers=h).status_code == 200
