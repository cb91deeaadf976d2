"""The console's flows in a real browser: Debian's chromium driven by Playwright (never a downloaded browser).

A student signs in (demo), searches in Korean, opens a question and gets a checked hint with its sources and
where it came from (the bank's ladder: the embedded SmolLM2 cannot write Korean), asks again for the next
step; answers and sees their diagnosis. A teacher sees the heatmap. A student who opens
the operator page gets the 403 page. No page logs a console error, and Hangul renders with a real font.
Set CONSOLE_SCREENSHOTS=docs/console to refresh the README's screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_component

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture reports it
    expect = None

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        missing_component("the playwright package is not installed (pip install 'jindan[dev]')")
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        missing_component("Debian's chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Tab:
    """One browser context (its own cookies) with a page that records console errors."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int] = DESKTOP) -> None:
        self.context = browser.new_context(viewport=viewport, locale="ko-KR")
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def demo(self, role: str) -> None:
        self.go("/console/signin")
        self.page.get_by_test_id(f"demo-{role}").click()
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        folder = os.environ.get("CONSOLE_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def tab(browser: Any, console_server: str) -> Iterator[Tab]:
    t = Tab(browser, console_server)
    yield t
    t.close()


def hangul_font_loaded(page: Any) -> bool:
    return bool(
        page.evaluate(
            """async () => { await document.fonts.ready;
               return [...document.fonts].some(f => f.family.includes('Jindan Hangul') && f.status === 'loaded'); }"""
        )
    )


def test_student_searches_in_korean_and_watches_a_hint_stream(tab: Tab) -> None:
    tab.go("/console/signin")
    tab.shot("signin")
    tab.demo("student")
    page = tab.page
    assert page.url.endswith("/console/search")
    search = page.get_by_label("찾을 문제나 개념")
    search.fill("연립방정식의 활용")
    search.press("Enter")
    results = page.get_by_test_id("results").locator("li")
    results.first.wait_for()
    assert results.count() >= 3 and "연립방정식" in results.first.inner_text()
    assert "q=" in page.url  # htmx pushed the search into the address bar
    assert hangul_font_loaded(page)  # no Korean system font here: the web font draws the Hangul
    tab.shot("student-search")

    results.first.locator("a").click()
    page.wait_for_load_state()
    page.get_by_test_id("similar").locator("li").first.wait_for()
    page.get_by_role("button", name="힌트 받기").click()
    # the embedded SmolLM2 cannot write Korean: the bank's ladder answers at once, and says so
    expect(page.locator("#stream-status")).to_have_text("완료", timeout=120_000)
    text = page.get_by_test_id("stream-text").inner_text()
    assert text.strip(), "no hint text arrived"
    assert "<context>" not in text and "<item" not in text
    source = page.get_by_test_id("answer-source")
    expect(source).to_contain_text("문제집 풀이로 만든 힌트 · 1단계")
    expect(source).to_contain_text("검사 통과")
    assert page.get_by_test_id("answer-source").get_attribute("data-state") == "passed"
    sources = page.get_by_test_id("sources").locator("li")
    assert sources.count() >= 1 and sources.first.inner_text().startswith("[1]")
    first = text
    page.get_by_role("button", name="다음 단계 힌트").click()  # asking again climbs the ladder
    expect(source).to_contain_text("2단계", timeout=60_000)
    assert page.get_by_test_id("stream-text").inner_text() != first
    tab.shot("student-hint")
    assert tab.errors == []


def test_student_answers_and_reads_their_diagnosis(tab: Tab, console_world: Any) -> None:
    tab.demo("student")
    page = tab.page
    tab.go(f"/console/questions/{console_world.question_id}")
    page.locator("label.choice").first.click()
    page.get_by_role("button", name="제출").click()
    page.get_by_test_id("answered").wait_for()
    page.get_by_test_id("answered").get_by_role("link").click()
    page.wait_for_load_state()
    page.get_by_test_id("mastery").wait_for()
    expect(page.get_by_test_id("narrative")).to_contain_text("차근차근")
    assert page.get_by_test_id("recommendations").locator("li").count() >= 1
    tab.shot("student-diagnosis")
    assert tab.errors == []


def test_student_is_refused_the_operator_page(tab: Tab) -> None:
    tab.demo("student")
    response = tab.go("/console/ops")
    assert response.status == 403
    assert "권한이 없습니다" in tab.page.locator("main").inner_text()
    assert tab.page.get_by_test_id("readiness").count() == 0
    assert tab.page.get_by_role("link", name="운영").count() == 0  # the menu never offered it
    tab.shot("student-refused")
    # the browser reports the refused document itself; nothing else may fail
    assert [e for e in tab.errors if "status of 403" not in e] == []


def test_teacher_sees_the_heatmap_and_drills_down(tab: Tab) -> None:
    tab.demo("teacher")
    page = tab.page
    assert page.url.endswith("/console/classes")
    page.get_by_role("link", name="데모 2학년 1반").click()
    page.wait_for_load_state()
    heatmap = page.get_by_test_id("heatmap")
    assert heatmap.locator("tbody tr").count() == 8
    assert heatmap.locator("td.m0, td.m1, td.m2, td.m3, td.m4, td.m5, td.m6, td.m7, td.m8, td.m9").count() > 40
    page.get_by_test_id("class-picks").locator("li").first.wait_for()
    tab.shot("teacher-heatmap")
    heatmap.get_by_role("link", name="하은").click()
    page.wait_for_load_state()
    assert "하은" in page.locator("h1").inner_text()
    page.get_by_test_id("mastery").wait_for()
    assert tab.errors == []


def test_operator_page(tab: Tab) -> None:
    tab.demo("admin")
    page = tab.page
    assert page.url.endswith("/console/ops")
    assert "database" in page.get_by_test_id("readiness").inner_text()
    assert "llamacpp" in page.get_by_test_id("providers").inner_text()
    tab.shot("operator")
    page.get_by_role("link", name="최근 벤치마크").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("benchmarks").locator("table").count() > 0
    assert tab.errors == []


def test_phone_layout_keyboard_and_english(browser: Any, console_server: str, console_world: Any) -> None:
    tab = Tab(browser, console_server, PHONE)
    try:
        tab.go("/console/signin")
        page = tab.page
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"  # first stop: skip to content
        tab.shot("phone-signin")
        tab.demo("student")
        for path in ("/console/search?q=일차함수 기울기", f"/console/questions/{console_world.question_id}"):
            tab.go(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
        assert page.get_by_test_id("question-body").locator(".katex").count() >= 1  # $...$ typeset by KaTeX
        assert "\\begin{cases}" not in page.get_by_test_id("question-body").inner_text()
        tab.shot("phone-question")
        page.get_by_role("link", name="English").click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("button", name="Get a hint").count() == 1
        assert tab.errors == []
    finally:
        tab.close()


def test_student_takes_a_diagnostic_test_and_the_teacher_watches(tab: Tab, browser: Any, console_server: str) -> None:
    tab.demo("student")
    page = tab.page
    page.get_by_role("link", name="진단평가").click()
    page.wait_for_load_state()
    page.get_by_test_id("dx-unit").select_option("이차방정식")
    page.locator("#dx-max").select_option("5")
    page.get_by_test_id("dx-start").click()
    page.wait_for_load_state()
    typeset = 0
    for n in range(1, 6):
        expect(page.get_by_test_id("dx-progress")).to_have_text(f"{n} / 최대 5")
        question = page.get_by_test_id("dx-question")
        expect(question).not_to_contain_text("$")  # KaTeX has typeset every formula
        typeset += question.locator(".katex").count()
        if n == 2:
            tab.shot("student-diagnostic")
        if page.locator("label.choice").count():
            page.locator("label.choice").first.click()
        else:
            page.get_by_test_id("dx-answer").fill("3")
        page.get_by_test_id("dx-submit").click()
        page.wait_for_load_state()
    assert typeset > 0
    expect(page.get_by_test_id("dx-finished")).to_contain_text("5문제로 진단을 마쳤어요")
    assert page.get_by_test_id("dx-mastery").locator("tbody tr").count() >= 1
    expect(page.get_by_test_id("dx-narrative")).to_contain_text("차근차근")
    tab.shot("student-diagnostic-result")
    assert tab.errors == []

    teacher = Tab(browser, console_server)
    try:
        teacher.demo("teacher")
        t = teacher.page
        t.get_by_role("link", name="데모 2학년 1반").click()
        t.wait_for_load_state()
        t.get_by_test_id("dx-class-link").click()
        t.wait_for_load_state()
        t.get_by_test_id("dx-class-unit").select_option("일차방정식")
        t.get_by_test_id("dx-class-start").click()
        t.wait_for_load_state()
        table = t.get_by_test_id("dx-class")
        assert table.locator("tbody tr").count() == 8
        expect(table).to_contain_text("진행 중")
        expect(t.get_by_test_id("dx-class-done")).to_contain_text("전체 8명")
        teacher.shot("teacher-diagnostic")
        assert teacher.errors == []
    finally:
        teacher.close()


def test_student_asks_for_practice_like_a_typed_problem_and_picks_another_topic(tab: Tab) -> None:
    tab.go("/console/signin")
    tab.demo("student")
    page = tab.page
    page.get_by_label("찾을 문제나 개념").fill("연립방정식 x+y=7, x-y=1 을 푸시오")
    page.get_by_role("button", name="비슷한 연습 문제").click()
    topic = page.get_by_test_id("topic")
    topic.wait_for()
    chosen = topic.locator("a[aria-current=true]")
    expect(chosen).to_contain_text("연립방정식")
    assert "intent=similar" in page.url
    results = page.get_by_test_id("results").locator("li")
    assert results.count() >= 3 and all("연립방정식" in results.nth(i).inner_text() for i in range(3))
    tab.shot("student-practice-topic")
    topic.get_by_role("link", name=re.compile("일차함수")).click()
    expect(page.get_by_test_id("topic")).to_contain_text("고른 단원: 일차함수")
    expect(page.get_by_test_id("results").locator("li").first).to_contain_text("일차함수")
    assert "subject=" in page.url  # htmx pushed the pick into the address bar
