"""Every console page for every kind of caller: the page (200) or the refusal page (403) with none of the data;
fragments for htmx; sign-in through the service's own identities; the demo sign-in only where it may exist."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jindan.api.app import create_app
from jindan.db.engine import Database
from jindan.db.models import LLMComparison, MigrationEvent, MigrationRun, ResponseRow
from jindan.security.identities import issue
from jindan.security.keys import KeyStore
from jindan.security.secrets import resolve
from jindan.settings import Settings
from tests.console.conftest import World
from tests.fixtures.auth import secured
from tests.fixtures.sse import events

ROLES = ("student", "other_student", "teacher", "other_teacher", "admin")
SECRET_OF_OTHERS = ("하은", "데모 2학년 1반", "llm:llamacpp", "qwen2.5")  # never on a page refused to its viewer


@pytest.fixture(scope="module")
def client(console_world: World) -> Iterator[TestClient]:
    with TestClient(console_world.app, follow_redirects=False) as c:
        yield c


def get(client: TestClient, world: World, who: str, url: str, **headers: str) -> tuple[int, str, dict[str, str]]:
    client.cookies.clear()
    r = client.get(url, cookies=world.cookie(who), headers=headers)
    return r.status_code, r.text, dict(r.headers)


def pages(w: World) -> dict[str, tuple[str, set[str]]]:
    """url -> who may open it (everyone else gets the 403 page)."""
    me = w.people["student"].user_id
    everyone = set(ROLES)
    own = {"student", "teacher", "admin"}
    teachers = {"teacher", "admin"}
    return {
        "search": ("/console/search?q=연립방정식", everyone),
        "question": (f"/console/questions/{w.question_id}", everyone),
        "similar": (f"/console/questions/{w.question_id}/similar", everyone),
        "diagnosis": (f"/console/students/{me}/diagnosis", own),
        "narrative": (f"/console/students/{me}/narrative", own),
        "classes": ("/console/classes", {"teacher", "other_teacher", "admin"}),
        "heatmap": (f"/console/classes/{w.class_id}", teachers),
        "class picks": (f"/console/classes/{w.class_id}/recommended", teachers),
        "ops": ("/console/ops", {"admin"}),
        "benchmarks": ("/console/ops/benchmarks", {"admin"}),
    }


def test_the_matrix_holds_every_page_the_console_declares(console_world: World) -> None:
    """A new page must enter the matrix above: the pages listed are exactly the GET pages of the role routers
    (sign-in, home and the demo are public by design and tested on their own)."""
    from jindan.console import ops, student, teacher

    declared = {r.path for m in (student, teacher, ops) for r in m.router.routes if "GET" in getattr(r, "methods", ())}
    listed = {re.sub(r"\?.*$", "", url) for url, _ in pages(console_world).values()}
    w = console_world
    ids = {str(w.question_id): "{question_id}", str(w.people["student"].user_id): "{user_id}"}
    ids[str(w.class_id)] = "{class_id}"
    templates = {"/".join(ids.get(part, part) for part in url.split("/")) for url in listed}
    assert declared and templates == declared, templates ^ declared


@pytest.mark.parametrize("who", ROLES)
def test_every_page_for_every_role(client: TestClient, console_world: World, who: str) -> None:
    for name, (url, allowed) in pages(console_world).items():
        status, body, headers = get(client, console_world, who, url)
        assert "HX-Request" in headers["vary"], name
        assert headers["content-security-policy"].startswith("default-src 'self'"), name
        if who in allowed:
            assert status == 200, f"{who} {name}: {status} {body[:300]}"
            assert 'data-status="403"' not in body
        else:
            assert status == 403, f"{who} {name}: {status}"
            assert 'data-status="403"' in body and "<!doctype html>" in body
            assert not [s for s in SECRET_OF_OTHERS if s in body], f"{who} {name} leaks data"


def test_pages_show_what_their_viewer_may_see(client: TestClient, console_world: World) -> None:
    w = console_world
    _, as_student, _ = get(client, w, "student", f"/console/questions/{w.question_id}")
    _, as_teacher, _ = get(client, w, "teacher", f"/console/questions/{w.question_id}")
    assert 'data-stream="hint"' in as_student and "/responses" in as_student  # hint button, answer form
    assert "정답과 풀이" not in as_student and "정답과 풀이" in as_teacher  # the key is for staff only
    assert "/responses" not in as_teacher  # a teacher does not answer as a student
    _, classes, _ = get(client, w, "other_teacher", "/console/classes")
    assert "다른 반" in classes and "데모 2학년 1반" not in classes
    _, heatmap, _ = get(client, w, "teacher", f"/console/classes/{w.class_id}")
    table = heatmap[heatmap.index('data-testid="heatmap"') :]
    assert table.count('<th scope="row"><a href="/console/students/') == 8
    assert re.search(r'<td class="m\d">\d+</td>', table)
    _, diagnosis, _ = get(client, w, "student", f"/console/students/{w.people['student'].user_id}/diagnosis")
    assert 'data-testid="mastery"' in diagnosis and "<meter" in diagnosis and "민지" in diagnosis
    assert 'data-testid="recommendations"' in diagnosis
    _, words, _ = get(
        client, w, "student", f"/console/students/{w.people['student'].user_id}/narrative", **{"HX-Request": "true"}
    )
    _, teacher_words, _ = get(
        client, w, "teacher", f"/console/students/{w.people['student'].user_id}/narrative", **{"HX-Request": "true"}
    )
    assert "차근차근" in words and "복습이 필요합니다" in teacher_words  # each reads the narrative written for them


def test_korean_search_page_and_fragment(client: TestClient, console_world: World) -> None:
    status, full, _ = get(client, console_world, "student", "/console/search?q=연립방정식의 활용 문제")
    assert status == 200 and full.startswith("<!doctype html>") and 'lang="ko"' in full
    status, fragment, _ = get(
        client, console_world, "student", "/console/search?q=연립방정식의 활용 문제", **{"HX-Request": "true"}
    )
    assert status == 200 and "<html" not in fragment and 'data-testid="results"' in fragment
    subjects = re.findall(r'<span class="tag">([^<]+)</span>\s*<span class="tag">난이도', fragment)
    assert subjects[:3] == ["연립방정식"] * 3, subjects
    assert "정답" not in fragment and "풀이:" not in fragment  # result cards carry no answer or solution
    _, empty, _ = get(client, console_world, "student", "/console/search")
    assert 'data-testid="results"' not in empty


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    client.cookies.clear()
    r = client.get("/console/classes")
    assert r.status_code == 303 and r.headers["location"] == "/console/signin?next=/console/classes"
    r = client.get("/console/search", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"].startswith("/console/signin")
    r = client.get("/console/ops", cookies={"jindan_session": "forged"})
    assert r.status_code == 303 and 'jindan_session=""' in r.headers["set-cookie"]
    page = client.get("/console/signin")
    assert page.status_code == 200 and 'lang="ko"' in page.text and "로그인" in page.text
    assert 'data-testid="demo-student"' in page.text  # embedded profile on loopback
    assert client.get("/console").headers["location"].startswith("/console/signin")


def test_sign_in_with_a_platform_token_or_a_service_key(client: TestClient, console_world: World) -> None:
    w = console_world
    client.cookies.clear()
    token = issue(w.settings, resolve(w.settings), "demo-teacher", "teacher", 600, "김선생")
    r = client.post("/console/signin", data={"credential": token, "next": "/console/classes"})
    assert r.status_code == 303 and r.headers["location"] == "/console/classes"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    heatmap = client.get(f"/console/classes/{w.class_id}", cookies={"jindan_session": r.cookies["jindan_session"]})
    assert heatmap.status_code == 200 and "김선생" in heatmap.text
    out = client.post("/console/signout")
    assert out.status_code == 303 and 'jindan_session=""' in out.headers["set-cookie"]

    key = KeyStore(w.db, resolve(w.settings).pepper).create("console-ops", "admin")
    client.cookies.clear()
    r = client.post("/console/signin", data={"credential": key, "next": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == "/console/ops"  # never off the console
    client.cookies.clear()
    forced = client.post("/console/signin", data={"credential": key}, headers={"Origin": "https://evil.example"})
    assert forced.status_code == 403 and "set-cookie" not in forced.headers
    same = client.post("/console/signin", data={"credential": key}, headers={"Origin": "http://testserver"})
    assert same.status_code == 303
    for bad in ("", "jdn_nope_nope", "not-a-token"):
        client.cookies.clear()
        r = client.post("/console/signin", data={"credential": bad})
        assert r.status_code in (401, 422) and "set-cookie" not in r.headers and 'role="alert"' in r.text


def test_demo_sign_in_and_language_switch(client: TestClient, console_world: World) -> None:
    client.cookies.clear()
    r = client.post("/console/demo", data={"role": "teacher"})
    assert r.status_code == 303 and r.headers["location"] == "/console/classes"
    session = r.cookies["jindan_session"]
    assert console_world.app.state.auth.session(session).role == "teacher"
    assert client.post("/console/demo", data={"role": "service"}).status_code == 422
    r = client.get("/console/lang/en", params={"next": "/console/classes"})
    assert (
        r.status_code == 303
        and r.headers["location"] == "/console/classes"
        and "jindan_lang=en" in r.headers["set-cookie"]
    )
    page = client.get("/console/classes", cookies={"jindan_session": session, "jindan_lang": "en"})
    assert 'lang="en"' in page.text and "Classes" in page.text and "한국어" in page.text
    assert client.get("/console/lang/en", params={"next": "//evil.example"}).headers["location"] == "/console"


def test_no_demo_sign_in_where_credentials_are_required(settings: Settings, db: Database) -> None:
    with TestClient(create_app(secured(settings), db), follow_redirects=False) as c:
        assert c.post("/console/demo", data={"role": "admin"}).status_code == 404
        assert "/console/demo" not in c.get("/console/signin").text
        assert c.get("/console/search").status_code == 303  # and every page still asks for a sign-in


def test_a_student_records_answers_for_themselves_only(client: TestClient, console_world: World) -> None:
    w = console_world
    me = w.people["student"].user_id
    with w.db.session() as s:
        before = s.scalar(select(func.count()).select_from(ResponseRow).where(ResponseRow.user_id == me))
        from jindan.db.models import Question

        key = s.get(Question, w.question_id).answer  # type: ignore[union-attr]
    right, wrong = key[0], next(c for c in "①②③④⑤" if c != key[0])
    cookies = w.cookie("student")
    client.cookies.clear()
    url = f"/console/students/{me}/responses"
    ok = client.post(
        url,
        data={"question_id": w.question_id, "chosen": right, "time_taken_ms": 4200},
        cookies=cookies,
        headers={"HX-Request": "true"},
    )
    assert ok.status_code == 201 and "정답입니다" in ok.text and "<html" not in ok.text
    no = client.post(url, data={"question_id": w.question_id, "chosen": wrong}, cookies=cookies)
    assert no.status_code == 201 and "오답" in no.text and no.text.startswith("<!doctype html>")
    assert client.post(url, data={"question_id": w.question_id, "chosen": ""}, cookies=cookies).status_code == 422
    assert client.post(url, data={"question_id": 999999, "chosen": "①"}, cookies=cookies).status_code == 404
    superscript = client.post(url, data={"question_id": "²", "chosen": "①"}, cookies=cookies)  # "²".isdigit()
    assert superscript.status_code == 422 and "choose or type an answer first" in superscript.text
    other = w.people["other_student"].user_id
    refused = client.post(
        f"/console/students/{other}/responses", data={"question_id": w.question_id, "chosen": right}, cookies=cookies
    )
    assert refused.status_code == 403
    with w.db.session() as s:
        rows = list(
            s.scalars(select(ResponseRow).where(ResponseRow.user_id == me).order_by(ResponseRow.id.desc()).limit(2))
        )
        after = s.scalar(select(func.count()).select_from(ResponseRow).where(ResponseRow.user_id == me))
    assert after == before + 2
    assert [(r.correct, r.chosen_answer) for r in rows] == [(False, wrong), (True, right)]
    assert rows[1].time_taken_ms == 4200


def test_operator_page_reads_every_source(client: TestClient, console_world: World) -> None:
    w = console_world
    client.cookies.clear()
    hint = client.post(f"/questions/{w.question_id}/hint", json={}, cookies=w.cookie("student"))
    assert hint.status_code == 200 and events(hint.text)[0][0] == "sources"  # the browser's path: API + cookie
    now = datetime.now(UTC)
    with w.db.session() as s:
        s.add(
            MigrationRun(
                source="pgvector:questions",
                target="questions__v2",
                plan={},
                status="done",
                actor="ops",
                report={"copied": 5000},
            )
        )
        checks = [
            {"name": "count", "passed": True, "detail": {"source": 5000, "target": 5000}},
            {"name": "recall", "passed": True, "detail": {}},
        ]
        s.add(
            MigrationEvent(
                kind="verify", target="questions__v2", actor="ops", detail={"passed": True, "checks": checks}
            )
        )
        s.add(
            MigrationEvent(
                kind="cutover",
                target="questions__v2",
                actor="ops",
                detail={"alias": "questions", "previous": "pgvector"},
            )
        )
        s.add(MigrationEvent(kind="rollback", target="questions__v2", actor="ops", detail={"alias": "questions"}))
        usage = {"ttft_ms": 100.0, "total_ms": 900.0, "completion_tokens": 40}
        s.add(
            LLMComparison(
                created_at=now,
                route="hint",
                primary_provider="llamacpp",
                primary_model="smol",
                shadow_provider="ollama",
                shadow_model="qwen",
                primary_text="a b c",
                shadow_text="a b d",
                primary_usage=usage,
                shadow_usage={**usage, "total_ms": 1500.0},
            )
        )
    status, body, _ = get(client, w, "admin", "/console/ops")
    assert status == 200
    section = {
        name: body[body.index(f'data-testid="{name}"') :]
        for name in ("readiness", "providers", "ollama", "migration", "answers", "shadow", "compare")
    }
    assert "database" in section["readiness"] and "llm:llamacpp" in section["readiness"]
    assert re.search(r"llamacpp.*?정상\(닫힘\)", section["providers"], re.S)
    assert "http://127.0.0.1:11434" in section["ollama"] and "qwen2.5:7b" in section["ollama"]
    assert "pgvector:questions → questions__v2" in section["migration"] and "5000" in section["migration"]
    assert "recall" in section["migration"] and "cutover" in section["migration"] and "rollback" in section["migration"]
    assert "<svg" in section["shadow"] and "llamacpp/smol / ollama/qwen" in section["shadow"]
    assert "완료된 비교 실행이 없습니다" in section["compare"]
    answers = section["answers"].split('data-testid="shadow"')[0]  # the hint above, checked and counted
    row = (
        r'<th scope="row">hint</th><td>llamacpp/[^<]+</td><td>\d+</td>\s*<td>100%</td>\s*<td data-testid="model-pass">'
    )
    assert re.search(row, answers), answers  # the Korean question: the bank's hint, the model not asked
    assert ("writes Korean: none" in answers and "qwen2.5:7b" in answers) or "No local Korean" in answers
    assert re.search(r"오늘 llamacpp/\S+의 hint 답 중 100%가 검사에 떨어졌습니다: 한국어 아님 100%", answers), answers
    _, bench, _ = get(client, w, "admin", "/console/ops/benchmarks")
    assert "<table>" in bench and "<script" not in bench.split("</header>", 1)[1].split("</main>")[0]


def test_static_files_font_and_unknown_pages(client: TestClient, console_world: World) -> None:
    client.cookies.clear()
    js = client.get("/console/static/htmx.min.js")
    assert js.status_code == 200 and "htmx" in js.text[:200]
    font = client.get("/console/fonts/hangul.woff")
    assert font.status_code == 200 and font.headers["content-type"] == "font/woff" and len(font.content) > 1_000_000
    assert font.content[:4] == b"wOFF" and client.get("/console/fonts/hangul.woff").content == font.content
    status, body, _ = get(client, console_world, "admin", "/console/questions/999999")
    assert status == 404 and 'data-status="404"' in body
    status, _, _ = get(client, console_world, "admin", "/console/classes/not-a-number")
    assert status == 404


def test_similar_practice_for_a_typed_problem_shows_its_topic_and_lets_the_student_pick_another(
    client: TestClient, console_world: World
) -> None:
    typed = "이차방정식 x^2-9x+20=0 의 두 근의 곱을 구하시오"  # in no question of the bank
    url = "/console/search?" + urlencode({"q": typed, "intent": "similar"})
    status, fragment, _ = get(client, console_world, "student", url, **{"HX-Request": "true"})
    assert status == 200 and 'data-testid="topic"' in fragment and "비슷한 연습 문제" in fragment
    chips = re.findall(r'<a href="([^"]+)"[^>]*class="tag( ok)?"[^>]*>([^<]+)</a>', fragment, re.S)
    assert {c[2].split(" · ")[0] for c in chips} == {"일차방정식", "연립방정식", "일차함수", "이차방정식"}
    assert [c[2].split(" · ")[0] for c in chips if c[1]] == ["이차방정식"]  # the inferred topic, marked
    clues = re.search(r'data-testid="topic-clues">([^<]+)<', fragment)
    assert clues and clues.group(1).startswith("단원을 알려 준 말: ") and "이차방정식" in clues.group(1)
    subjects = re.findall(r'<span class="tag">([^<]+)</span>\s*<span class="tag">난이도', fragment)
    assert subjects and set(subjects[:5]) == {"이차방정식"}, subjects
    other = next(html.unescape(href) for href, ok, name in chips if name.startswith("일차함수"))
    assert "intent=similar" in other and "subject=" in other
    status, picked, _ = get(client, console_world, "student", other, **{"HX-Request": "true"})
    assert status == 200 and "고른 단원: 일차함수" in picked
    subjects = re.findall(r'<span class="tag">([^<]+)</span>\s*<span class="tag">난이도', picked)
    assert subjects and set(subjects) == {"일차함수"}
    bad = "/console/search?" + urlencode({"q": typed, "intent": "similar", "subject": "점성술"})
    status, refused, _ = get(client, console_world, "student", bad)
    assert status == 404 and "<html" in refused
    status, _, _ = get(client, console_world, "student", "/console/search?q=x&intent=browse")
    assert status == 404  # an unknown intent is a bad address, as any invalid parameter of a page
    too_long = "/console/search?" + urlencode({"q": "가" * 501, "intent": "similar"})
    status, refused, _ = get(client, console_world, "student", too_long)
    assert status == 422 and "입력이 너무 깁니다 (q: 500자까지)" in refused  # a typed problem, not a bad address
