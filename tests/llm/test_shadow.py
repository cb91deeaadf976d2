from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import LLMComparison
from jindan.llm.base import ChatMessage, Delta, GenOptions
from jindan.llm.router import Router, StreamError
from jindan.llm.shadow import DbComparisonSink, ShadowRunner
from jindan.settings import Settings
from tests.llm.fakes import Scripted

MSG = [ChatMessage("user", "설명해 주세요")]


def setup(
    db: Database,
    shadow_script: str = "ok",
    primary_script: str = "ok",
    sample: float = 1.0,
    shadow_text: str = "api answer",
) -> tuple[Router, ShadowRunner, Scripted, Scripted]:
    settings = Settings(
        llm={  # type: ignore[arg-type]
            "provider": "llamacpp",
            "routes": {"explain": ["llamacpp"]},
            "shadow": {"explain": {"provider": "openai", "model": "gpt-4o-mini", "sample": sample}},
        },
        privacy={"allow": ["openai"], "shadow_student_text": True},  # the operator lets the API see the text
    )
    primary = Scripted("llamacpp", primary_script, text="local answer in four words")
    shadow = Scripted("openai", shadow_script, text=shadow_text)
    shadow.model = "gpt-4o-mini"
    runner = ShadowRunner(settings, DbComparisonSink(db), providers={"openai:gpt-4o-mini": shadow})  # type: ignore[dict-item]
    return Router(settings, {"llamacpp": primary}, shadow=runner), runner, primary, shadow  # type: ignore[dict-item]


def rows(db: Database) -> list[LLMComparison]:
    with db.session() as s:
        return list(s.scalars(select(LLMComparison)))


def test_shadow_never_delays_the_primary_and_is_recorded(db: Database) -> None:
    router, runner, _, shadow = setup(db)

    async def go() -> list[Any]:
        shadow.gate = asyncio.Event()  # the shadow cannot produce a token until we release it
        events = [e async for e in router.stream("explain", MSG)]  # would hang here if the primary waited
        assert rows(db) == []  # nothing recorded while the shadow is still running
        shadow.gate.set()
        await runner.drain()
        return events

    events = asyncio.run(go())
    assert "".join(e.text for e in events if isinstance(e, Delta)) == "local answer in four words"
    (row,) = rows(db)
    assert (row.route, row.primary_provider, row.shadow_provider, row.shadow_model) == (
        "explain",
        "llamacpp",
        "openai",
        "gpt-4o-mini",
    )
    assert row.primary_text == "local answer in four words" and row.shadow_text == "api answer"
    assert row.primary_cost_usd == 0.0 and row.shadow_cost_usd > 0  # gpt-4o-mini has a price, local is free
    assert row.shadow_usage is not None and row.shadow_usage["completion_tokens"] == 2


def test_failing_shadow_is_recorded_as_data(db: Database) -> None:
    router, runner, _, _ = setup(db, shadow_script="refuse")

    async def go() -> None:
        [e async for e in router.stream("explain", MSG)]
        await runner.drain()

    asyncio.run(go())
    (row,) = rows(db)
    assert row.shadow_text is None and "refused" in (row.shadow_error or "")


def test_broken_primary_drops_the_pair(db: Database) -> None:
    router, runner, _, _ = setup(db, primary_script="break")

    async def go() -> list[Any]:
        events = [e async for e in router.stream("explain", MSG)]
        await runner.drain()
        return events

    assert isinstance(asyncio.run(go())[-1], StreamError)
    assert rows(db) == []


def test_sampling_zero_sends_nothing(db: Database) -> None:
    router, runner, _, shadow = setup(db, sample=0.0)

    async def go() -> None:
        [e async for e in router.stream("explain", MSG, GenOptions())]
        await runner.drain()

    asyncio.run(go())
    assert shadow.calls == 0 and rows(db) == []


def test_report_summarises_the_pairs(db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jindan.reports import shadow as report

    router, runner, _, _ = setup(db)

    async def go() -> None:
        for _ in range(3):
            [e async for e in router.stream("explain", MSG)]
        await runner.drain()

    asyncio.run(go())
    (row,) = report.build(db)
    assert (row["route"], row["n"], row["compared"], row["failed"]) == ("explain", 3, 3, 0)
    assert row["primary"] == "llamacpp/llamacpp-model" and row["shadow"] == "openai/gpt-4o-mini"
    assert row["shadow_cost_usd"] > 0 == row["primary_cost_usd"]
    assert 0 < row["agreement_p50"] < 1
    png = report.plot([row], tmp_path / "shadow.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_shadow_answer_is_a_failed_comparison(db: Database) -> None:
    from jindan.reports import shadow as report

    router, runner, _, _ = setup(db, shadow_text="")

    async def go() -> None:
        [e async for e in router.stream("explain", MSG)]
        await runner.drain()

    asyncio.run(go())
    (row,) = rows(db)
    assert row.shadow_text == "" and (row.shadow_error or "").startswith("EmptyAnswer")
    (summary,) = report.build(db)
    assert (summary["n"], summary["compared"], summary["failed"]) == (1, 0, 1)
    assert summary["failed_by_reason"] == {"empty": 1}
    assert summary["agreement_p50"] is None and summary["shadow_total_ms_p50"] is None  # nothing to compare


def test_report_cli_says_comparisons_failed(db: Database, settings: Settings) -> None:
    from typer.testing import CliRunner

    from jindan.cli.main import app

    router, runner, _, _ = setup(db, shadow_text="")

    async def go() -> None:
        [e async for e in router.stream("explain", MSG)]
        await runner.drain()

    asyncio.run(go())
    env = {"JINDAN_DATABASE__URL": settings.database.url or "", "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["report", "shadow"], env=env)
    assert result.exit_code == 0, result.output
    assert "1 of 1 comparisons failed" in result.output and "EmptyAnswer" in result.output
