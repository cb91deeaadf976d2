"""`jindan compare`: scripted providers for the bookkeeping, the real embedded model and a real llama.cpp
OpenAI-compatible server for the slow end-to-end run (CLI included)."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.db.engine import Database
from jindan.db.models import CompareResult, CompareRun
from jindan.embed.base import Embedder
from jindan.llm.base import LLMProvider
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.llm.openai import OpenAIProvider
from jindan.reports import compare
from jindan.settings import Settings
from tests.llm.fakes import Scripted


def providers(*pairs: tuple[str, str, str]) -> list[LLMProvider]:
    out = []
    for name, model, script in pairs:
        p = Scripted(name, script, text=r"so the answer is \boxed{2}")
        p.model = model
        out.append(p)
    return out  # type: ignore[return-value]


def run(settings: Settings, db: Database, route: str, chosen: list[LLMProvider], n: int, **kw: object) -> int:
    questions = compare.sample_questions(db, n, seed=1, source="math")
    return asyncio.run(compare.run(settings, db, route, chosen, questions, **kw))  # type: ignore[arg-type]


def test_sample_is_repeatable_and_has_keys(bank: Database) -> None:
    a = [q.id for q in compare.sample_questions(bank, 10, seed=3)]
    assert a == [q.id for q in compare.sample_questions(bank, 10, seed=3)] and len(set(a)) == 10
    assert a != [q.id for q in compare.sample_questions(bank, 10, seed=4)]
    assert all(q.answer for q in compare.sample_questions(bank, 10, seed=3))


def test_runs_are_stored_and_summarised(bank: Database, settings: Settings) -> None:
    chosen = providers(("llamacpp", "smollm2-135m", "ok"), ("openai", "gpt-4o-mini", "ok"))
    run_id = run(settings, bank, "chat", chosen, 6)
    with bank.session() as s:
        row = s.get(CompareRun, run_id)
        assert row is not None and row.status == "done" and row.reference == "openai/gpt-4o-mini"
        results = list(s.scalars(select(CompareResult).where(CompareResult.run_id == run_id)))
    assert len(results) == 12 and all(r.finish_reason is None or r.error is None for r in results)
    summary = compare.build(bank, run_id, settings)
    local, api = summary["providers"]
    assert (local["provider"], local["n"], local["answered"], local["failed"]) == ("llamacpp/smollm2-135m", 6, 6, 0)
    keys = {r["question_id"]: r for r in summary["results"]}
    assert len(keys) == 6
    # every question's key is scored: "\boxed{2}" is right exactly where the bank's answer is 2
    with bank.session() as s:
        from jindan.db.models import Question

        expected = sum(1 for qid in keys if s.get(Question, qid).answer.strip() in ("2", "$2$"))  # type: ignore[union-attr]
    assert local["correct"] == round(expected / 6, 3)
    assert local["cost_basis"].startswith("machine time") and api["cost_basis"] == "API prices"
    assert api["cost_usd"] > 0 and api["krw_per_1000"] == pytest.approx(api["cost_usd"] * 1400 * 1000 / 6, rel=1e-3)
    assert local["krw_per_1000"] > 0 and local["leaked"] is None and local["json_valid"] is None
    assert local["agreement_p50"] is None  # no embedder given
    assert local["checks_passed"] is None and local["check_failures"] == {}  # chat: no student answer to check


def test_failures_are_counted_not_scored(bank: Database, settings: Settings) -> None:
    chosen = providers(("llamacpp", "smollm2-135m", "refuse"), ("openai", "gpt-4o-mini", "ok"))
    run_id = run(settings, bank, "hint", chosen, 3)
    local, api = compare.build(bank, run_id, settings)["providers"]
    assert (local["failed"], local["answered"], local["leaked"], local["total_ms_p50"]) == (3, 0, None, None)
    assert api["failed"] == 0 and api["leaked"] is not None and api["correct"] is None
    # the hints went through the answer checks a student's hint passes: a share, and which checks failed
    assert api["checks_passed"] is not None and local["checks_passed"] is None
    assert set(api["check_failures"]) <= {"language", "leak", "echo", "degenerate", "grounded"}
    assert api["checks_passed"] < 1.0 or not api["check_failures"]
    with bank.session() as s:
        errors = [r.error for r in s.scalars(select(CompareResult).where(CompareResult.provider == "llamacpp"))]
    assert all("refused" in (e or "") for e in errors)


def test_structured_route_checks_json(bank: Database, settings: Settings) -> None:
    a, b = providers(("llamacpp", "m", "ok"), ("openai", "gpt-4o-mini", "ok"))
    a.text = '{"answer": "2", "explanation": "두 개"}'  # type: ignore[attr-defined]
    run_id = run(settings, bank, "diagnosis", [a, b], 2)
    local, api = compare.build(bank, run_id, settings)["providers"]
    assert local["json_valid"] == 1.0 and api["json_valid"] == 0.0


def test_unknown_route_or_reference_is_refused(bank: Database, settings: Settings) -> None:
    with pytest.raises(ValueError, match="compare knows"):
        run(settings, bank, "poetry", providers(("llamacpp", "m", "ok")), 1)
    with pytest.raises(ValueError, match="choose one of llamacpp/m"):
        run(settings, bank, "chat", providers(("llamacpp", "m", "ok")), 1, reference="openai/gpt-4")


@pytest.mark.slow
def test_embedded_model_against_a_real_openai_compatible_server(
    bank: Database, settings: Settings, smol: LlamaCppProvider, llama_server: str, minilm: Embedder
) -> None:
    server = OpenAIProvider("smollm2", base_url=llama_server)
    questions = compare.sample_questions(bank, 3, seed=1)

    async def go() -> int:
        try:
            return await compare.run(settings, bank, "chat", [smol, server], questions, max_tokens=48, embedder=minilm)
        finally:
            await server.aclose()  # its connections belong to this event loop

    run_id = asyncio.run(go())
    local, remote = compare.build(bank, run_id, settings)["providers"]
    for p in (local, remote):
        assert p["answered"] == 3 and p["tokens_per_s_p50"] > 0 and p["ttft_ms_p50"] > 0
        assert p["completion_tokens_mean"] > 0 and p["correct"] is not None and p["in_language"] is not None
    assert remote["agreement_p50"] is None and 0 < local["agreement_p50"] <= 1.0001  # cosine vs the reference
    assert remote["cost_basis"].startswith("machine time")  # a model without an API price runs on our machine


@pytest.mark.slow
def test_cli_compare_json(bank: Database, settings: Settings, llama_server: str) -> None:
    env = {
        "JINDAN_HOME": str(settings.home),
        "JINDAN_DATABASE__URL": settings.database.url or "",
        "JINDAN_OPENAI__BASE_URL": llama_server,
    }
    args = ["compare", "--route", "hint", "--providers", "llamacpp,openai:smollm2", "--sample", "2"]
    result = CliRunner().invoke(app, [*args, "--max-tokens", "24", "--no-agreement", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [p["provider"] for p in data["providers"]] == ["llamacpp/smollm2-135m", "openai/smollm2"]
    assert all(p["n"] == 2 and p["leaked"] is not None for p in data["providers"])
    assert data["route"] == "hint" and data["reference"] == "openai/smollm2"


@pytest.mark.parametrize(
    ("providers", "env", "message"),
    [
        ("llamacpp,gpt5", {}, "unknown provider 'gpt5'"),
        ("llamacpp,openai:gpt-4o-mini", {"JINDAN_OPENAI__API_KEY": "sk-test"}, "JINDAN_PRIVACY__ALLOW"),
        ("openai", {}, "JINDAN_OPENAI__API_KEY"),  # allowed, but nothing to call it with
    ],
)
def test_cli_refuses_what_it_cannot_or_may_not_call(
    settings: Settings, providers: str, env: dict[str, str], message: str
) -> None:
    base = {"JINDAN_HOME": str(settings.home), "JINDAN_DATABASE__URL": settings.database.url or "", "COLUMNS": "300"}
    if message == "JINDAN_OPENAI__API_KEY":
        base["JINDAN_PRIVACY__ALLOW"] = '["openai"]'
    result = CliRunner().invoke(app, ["compare", "--providers", providers, "--sample", "1"], env={**base, **env})
    assert result.exit_code == 2 and message in result.output, result.output
