"""`jindan report --out DIR`: one self-contained page, checked as data and in a real browser (Debian Chromium)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.db.engine import Database
from jindan.migrate.cutover import record
from jindan.reports import compare, html
from jindan.settings import Settings
from tests.conftest import missing_component
from tests.llm.fakes import Scripted
from tests.llm.test_shadow import MSG
from tests.llm.test_shadow import setup as shadow_setup

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture()
def recorded(bank: Database, settings: Settings, tmp_path: Path) -> Path:
    """A database with a compare run, shadow records (one failed), a verification and a benchmark file."""
    local = Scripted("llamacpp", "ok", "slow", text=r"분모를 먼저 인수분해 해 보세요. \boxed{2}")
    local.model = "qwen2.5:7b"
    api = Scripted("openai", "ok", text="Factor the denominator first. The answer is 2.")
    api.model = "gpt-4o-mini"
    questions = compare.sample_questions(bank, 4, seed=2)
    asyncio.run(compare.run(settings, bank, "chat", [local, api], questions, language="ko"))  # type: ignore[list-item]
    for shadow_text in ("api answer", ""):
        router, runner, _, _ = shadow_setup(bank, shadow_text=shadow_text)

        async def go() -> None:
            [e async for e in router.stream("explain", MSG)]  # noqa: B023
            await runner.drain()  # noqa: B023

        asyncio.run(go())
    check = {"name": "count", "passed": True, "detail": {"source": 120, "target": 120}}
    record(
        bank,
        "verify",
        "questions_v2",
        {"source": "pgvector", "target": "questions_v2", "passed": True, "seconds": 3.7, "checks": [check]},
    )
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "llm.json").write_text(json.dumps({"ours": {"tokens_per_s": 80.7}, "tokens_per_s_ratio": 0.976}))
    return bench


def test_page_is_self_contained(bank: Database, settings: Settings, recorded: Path, tmp_path: Path) -> None:
    data = html.build(bank, settings, bench=[recorded])
    assert [r["route"] for r in data["compare"]] == ["chat"] and data["verification"]["passed"] is True
    assert data["shadow"][0]["failed"] == 1 and data["benchmarks"][0]["rows"][0] == ("ours.tokens_per_s", 80.7)
    page = html.write(data, tmp_path / "out")
    text = page.read_text()
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert len(pngs) >= 7 and all(p.startswith(("run", "cost-", "shadow")) for p in pngs)
    assert text.count('src="data:image/png;base64,') == len(pngs)  # every plot embedded, none linked
    assert re.search(r"@font-face \{ font-family: 'NanumGothic'; src: url\(data:font/woff;base64,", text)
    assert not re.search(r"""(src|href)=["'](?!data:)""", text)  # nothing to fetch
    assert "로컬 모델 전환 근거" in text and "qwen2.5:7b" in text and "1 of 2 comparisons failed" in text
    assert len(text) < 1_500_000  # the font is cut down to the page's characters


def test_cli_report_writes_the_page(bank: Database, settings: Settings, recorded: Path, tmp_path: Path) -> None:
    env = {"JINDAN_HOME": str(settings.home), "JINDAN_DATABASE__URL": settings.database.url or "", "COLUMNS": "200"}
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--out", str(out), "--bench", str(recorded)], env=env)
    assert result.exit_code == 0, result.output
    assert (out / "report.html").exists() and "self-contained" in result.output
    missing = CliRunner().invoke(app, ["report", "--out", str(out), "--run", "999"], env=env)
    assert missing.exit_code == 1 and "no compare run 999" in missing.output
    assert CliRunner().invoke(app, ["report", "--run", "1"], env=env).exit_code == 2


def test_empty_database_still_gives_a_page(db: Database, settings: Settings, tmp_path: Path) -> None:
    data = html.build(db, settings, bench=[])
    assert data["compare"] == [] and data["shadow"] == [] and data["verification"] is None
    assert data["cost"]["verdict"] is not None  # no traffic recorded: the plan's assumptions, said so
    text = html.write(data, tmp_path / "out").read_text()
    assert "No compare run recorded yet" in text and "the migration plan&#39;s assumptions" in text


@pytest.mark.browser
@pytest.mark.slow
def test_page_in_chromium(bank: Database, settings: Settings, recorded: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        missing_component("Debian chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api as playwright
    except ImportError:
        missing_component("playwright (pip install playwright)")
    page_path = html.write(html.build(bank, settings, bench=[recorded]), tmp_path / "out")
    errors: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri(), wait_until="load")
        page.evaluate("document.fonts.ready")
        assert page.evaluate("document.fonts.check('16px NanumGothic', '로컬 모델 전환 근거')")
        assert page.evaluate("[...document.fonts].some(f => f.family.includes('NanumGothic') && f.status === 'loaded')")
        # every image decoded (a broken data URI has naturalWidth 0)
        assert page.evaluate("document.images.length") > 0
        assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert shot.stat().st_size > 10_000
