"""Diagnostic test pages: who may open them, a student's whole test by form posts, a teacher's class start."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jindan.console import diagnostic
from jindan.db.models import Question
from tests.console.conftest import World

UNIT = "연립방정식"
CLASS_UNIT = "일차함수"


@pytest.fixture(scope="module")
def client(console_world: World) -> Iterator[TestClient]:
    with TestClient(console_world.app, follow_redirects=False) as c:
        yield c


def _as(client: TestClient, w: World, who: str) -> TestClient:
    client.cookies.clear()
    client.cookies.update(w.cookie(who))
    return client


def _start(client: TestClient, w: World, size: int) -> str:
    me = w.people["student"].user_id
    r = _as(client, w, "student").post(f"/console/students/{me}/diagnostic", data={"unit": UNIT, "max_questions": size})
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_who_may_open_the_pages(client: TestClient, console_world: World) -> None:
    w = console_world
    me = w.people["student"].user_id
    session = _start(client, w, 3)
    expected = {
        f"/console/students/{me}/diagnostic": {"student", "teacher", "admin"},
        session: {"student", "teacher", "admin"},
        f"/console/classes/{w.class_id}/diagnostic": {"teacher", "admin"},
    }
    declared = {r.path for r in diagnostic.router.routes if "GET" in getattr(r, "methods", ())}
    assert len(declared) == len(expected)
    for url, allowed in expected.items():
        for who in ("student", "other_student", "teacher", "other_teacher", "admin"):
            r = _as(client, w, who).get(url)
            assert r.status_code == (200 if who in allowed else 403), (who, url, r.status_code)
            if who not in allowed:
                assert 'data-testid="dx-' not in r.text and "데모 2학년 1반" not in r.text
    other = w.people["other_student"].user_id
    refused = _as(client, w, "student").post(f"/console/students/{other}/diagnostic", data={"unit": UNIT})
    assert refused.status_code == 403


def test_a_student_takes_the_test_one_question_at_a_time(client: TestClient, console_world: World) -> None:
    w = console_world
    url = _start(client, w, 4)
    with w.db.session() as s:
        keys = dict(s.execute(select(Question.id, Question.answer).where(Question.subject == UNIT)).tuples().all())
    seen: list[int] = []
    for n in range(1, 5):
        page = _as(client, w, "student").get(url.split("?")[0]).text
        assert f"{n} / 최대 4" in page and 'data-testid="dx-question"' in page
        qid = int(re.search(r'name="question_id" value="(\d+)"', page).group(1))  # type: ignore[union-attr]
        assert qid in keys and qid not in seen  # inside the unit, never twice
        seen.append(qid)
        key = keys[qid] or ""
        chosen = key[0] if 'type="radio"' in page else key
        teacher = _as(client, w, "teacher").post(f"{url}/answers", data={"question_id": qid, "chosen": chosen})
        assert teacher.status_code == 403  # a teacher never answers for the student
        r = _as(client, w, "student").post(f"{url}/answers", data={"question_id": qid, "chosen": chosen})
        assert r.status_code == 303 and r.headers["location"].endswith("?last=right")
        url = r.headers["location"].split("?")[0]
    done = _as(client, w, "student").get(url).text
    assert 'data-testid="dx-finished"' in done and "4문제로 진단을 마쳤어요" in done
    assert 'data-testid="dx-mastery"' in done and "차근차근" in done  # the student's words of the narrative
    teacher_view = _as(client, w, "teacher").get(url).text
    assert "복습이 필요합니다" in teacher_view
    empty = _as(client, w, "student").post(f"{url}/answers", data={"question_id": seen[0], "chosen": ""})
    assert empty.status_code == 422
    stale = _as(client, w, "student").post(f"{url}/answers", data={"question_id": seen[0], "chosen": "1"})
    assert stale.status_code == 303 and stale.headers["location"] == url  # a second tab: back to the result


def test_a_teacher_starts_one_for_the_class_and_sees_who_finished(client: TestClient, console_world: World) -> None:
    w = console_world
    klass = f"/console/classes/{w.class_id}/diagnostic"
    r = _as(client, w, "teacher").post(klass, data={"unit": CLASS_UNIT, "max_questions": 2})
    assert r.status_code == 303 and r.headers["location"] == klass
    assert _as(client, w, "other_teacher").post(klass, data={"unit": CLASS_UNIT}).status_code == 403
    page = _as(client, w, "teacher").get(klass).text
    assert page.count('<th scope="row">') == 8 and "0명 완료 (전체 8명)" in page
    me = w.people["student"].user_id
    listing = _as(client, w, "student").get(f"/console/students/{me}/diagnostic").text
    sid = re.search(rf'/console/students/{me}/diagnostic/(\d+)">{CLASS_UNIT}</a>\s*<span class="tag ">', listing)
    assert sid, listing
    url = f"/console/students/{me}/diagnostic/{sid.group(1)}"
    for _ in range(2):
        page = _as(client, w, "student").get(url).text
        qid = re.search(r'name="question_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
        _as(client, w, "student").post(f"{url}/answers", data={"question_id": qid, "chosen": "1"})
    page = _as(client, w, "teacher").get(klass).text
    assert "1명 완료 (전체 8명)" in page and re.search(r'<td class="m\d">\d+</td>', page)
