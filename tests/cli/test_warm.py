"""`jindan warm`: prompt prefixes computed ahead of the students, on disk where the service finds them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.embed.registry import build_embedder
from jindan.llm import llamacpp_state as state
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.llm.router import Router
from jindan.rag.answer import RagService
from jindan.rag.retrieve import Retriever
from jindan.settings import Settings
from jindan.vectors.registry import build_store

runner = CliRunner()


def test_warm_fills_the_disk_cache_that_a_new_process_hits_and_the_bench_leaves_it(
    cli_bank: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    env = cli_bank

    assert runner.invoke(app, ["warm"], env=env).exit_code == 2  # which questions?
    assert runner.invoke(app, ["warm", "--all", "--subject", "Algebra"], env=env).exit_code == 2
    off = runner.invoke(app, ["warm", "--all"], env={**env, "JINDAN_LLAMACPP__PREFIX_CACHE_DISK_MB": "0"})
    assert off.exit_code == 2 and "PREFIX_CACHE_DISK_MB" in off.output

    first = runner.invoke(app, ["warm", "--subject", "Algebra", "--limit", "2", "--task", "hint"], env=env)
    assert first.exit_code == 0 and "2 question(s) warmed: 2 new" in first.output, first.output
    again = runner.invoke(app, ["warm", "--subject", "Algebra", "--limit", "2", "--task", "hint"], env=env)
    assert again.exit_code == 0 and "2 question(s) warmed: 0 new" in again.output, again.output
    missing = runner.invoke(app, ["warm", "--questions", "999999"], env=env)
    assert missing.exit_code == 1 and "999999 (not found)" in missing.output

    # what the service's provider finds on disk, in another process: the hint prefix of a warmed question
    settings = Settings(home=tmp_path, database={"url": db_url}, llamacpp={"n_ctx": 2048})  # type: ignore[arg-type]
    db = Database(settings)
    store = build_store(settings, db)
    provider = LlamaCppProvider.from_settings(settings)
    try:
        router = Router(settings, {"llamacpp": provider})
        rag = RagService(settings, db, Retriever.from_settings(settings, db, store, build_embedder(settings)), router)
        with db.session() as s:
            qid = s.scalars(select(Question.id).where(Question.subject == "Algebra").order_by(Question.id)).first()
        assert qid is not None
        hinted = asyncio.run(rag.build_prompt("hint", qid, "I got 3."))
        cache = provider.prefix_cache
        assert cache is not None and cache.disk_bytes() > 0
        llm = provider.load()
        rendered = state.render(llm, state.chat_formatter(llm), hinted.messages)
        assert cache.key(rendered.tokens[: rendered.cuts[-1]]) in cache  # warmed without the student's text
    finally:
        asyncio.run(provider.aclose())
        store.close()
        db.close()

    # the benchmark empties its caches for "cold", but never the real prefix cache on disk
    warmed = sorted(p.name for p in (tmp_path / "prefix-cache").rglob("*.kv"))
    args = ["bench", "e2e", "--json", "--questions", "2", "--clients", "2", "--no-explain"]
    bench = runner.invoke(app, args, env=env)
    assert bench.exit_code == 0, bench.output
    result = json.loads(bench.stdout)
    assert {"cold", "warm", "concurrent", "prefix_cache"} <= result.keys() and "explain" not in result
    assert result["cold"]["n"] == 2 and result["cold"]["prefix_misses"] == 2 and result["warm"]["prefix_hits"] == 2
    for key in (
        "ttft_ms_p50",
        "ttft_ms_p95",
        "total_ms_p50",
        "prompt_tokens_p50",
        "leak_rate",
        "cited_rate",
        "length_rate",
    ):
        assert key in result["warm"]
    assert sorted(p.name for p in (tmp_path / "prefix-cache").rglob("*.kv")) == warmed
