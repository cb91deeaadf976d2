"""Shadow runs against a real single-slot server (`python -m llama_cpp.server`), six students at once.

That server ends a running stream (with ``[DONE]``, no finish reason) as soon as the next request arrives, so
concurrent shadows come back cut or empty. They must be recorded as failed comparisons, never as short answers;
with ``concurrency: 1`` the shadows take turns and every pair is complete.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import LLMComparison
from jindan.llm.base import ChatMessage, GenOptions
from jindan.llm.router import Router
from jindan.llm.shadow import DbComparisonSink, ShadowRunner
from jindan.reports import shadow as report
from jindan.settings import Settings
from tests.llm.fakes import Scripted

pytestmark = pytest.mark.slow
STUDENTS = 6


def run_six(db: Database, base_url: str, concurrency: int) -> None:
    settings = Settings(
        llm={  # type: ignore[arg-type]
            "provider": "llamacpp",
            "routes": {"hint": ["llamacpp"]},
            "shadow": {"hint": {"provider": "openai", "model": "smollm2", "sample": 1.0, "concurrency": concurrency}},
        },
        openai={"base_url": base_url},  # type: ignore[arg-type]
    )
    runner = ShadowRunner(settings, DbComparisonSink(db))
    primary = Scripted("llamacpp", text="try factoring the denominator first")
    router = Router(settings, {"llamacpp": primary}, shadow=runner)  # type: ignore[dict-item]

    async def student(i: int) -> None:
        msgs = [ChatMessage("user", f"Student {i}: give a one-sentence hint for 3x + {i} = 10.")]
        [e async for e in router.stream("hint", msgs, GenOptions(max_tokens=48, temperature=0))]

    async def go() -> None:
        await asyncio.gather(*(student(i) for i in range(STUDENTS)))
        await runner.drain()
        await router.aclose()
        for provider in runner._providers.values():
            await provider.aclose()

    asyncio.run(go())


def test_cut_and_empty_shadows_are_failed_comparisons(db: Database, llama_server: str) -> None:
    run_six(db, llama_server, concurrency=STUDENTS)
    with db.session() as s:
        rows = list(s.scalars(select(LLMComparison)))
    assert len(rows) == STUDENTS
    for row in rows:  # never an empty or cut answer stored as if it were complete
        complete = row.shadow_error is None
        assert complete == bool((row.shadow_text or "").strip())
        if complete:
            assert row.shadow_usage is not None and row.shadow_usage["finish_reason"] in ("stop", "length")
    (summary,) = report.build(db)
    assert summary["failed"] >= 1, "the single-slot server should have cut at least one concurrent stream"
    assert summary["failed"] + summary["compared"] == STUDENTS
    assert set(summary["failed_by_reason"]) <= {"cut", "empty", "error", "timeout"}
    assert summary["failed_by_reason"].get("cut", 0) + summary["failed_by_reason"].get("empty", 0) >= 1


def test_one_at_a_time_every_pair_is_complete(db: Database, llama_server: str) -> None:
    run_six(db, llama_server, concurrency=1)
    (summary,) = report.build(db)
    assert (summary["n"], summary["compared"], summary["failed"]) == (STUDENTS, STUDENTS, 0)
    assert summary["agreement_p50"] is not None
