"""`jindan cost`: the plan's own comparison reproduced, the arithmetic, recorded traffic, the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.db.engine import Database
from jindan.db.models import LLMComparison
from jindan.llm.base import Usage
from jindan.llm.traffic import TrafficLog
from jindan.reports import cost
from jindan.settings import Settings

runner = CliRunner()


def test_the_plans_assumptions_give_the_plans_numbers() -> None:
    result = cost.estimate(Settings(), cost.PLAN, cost.PLAN_TIERS)
    api = [s["api"]["krw"] for s in result["scenarios"]]
    power = [row["power_krw"] for s in result["scenarios"] for row in s["local"]]
    assert 450_000 <= min(api) <= 550_000 and 1_800_000 <= max(api) <= 2_000_000  # "월 50-200만원"
    assert min(power) >= 50_000 and max(power) <= 100_000  # "전력비만 월 5-10만원"
    for s in result["scenarios"]:
        for row in s["local"]:
            assert row["total_krw"] == row["power_krw"] + row["hardware_krw_per_month"]
            assert row["saving_krw"] == s["api"]["krw"] - row["total_krw"] > 0
    assert "49.6만원-198.2만원" in cost.plan_verdict(result)


def test_local_month_arithmetic() -> None:
    settings = Settings(
        cost={  # type: ignore[arg-type]
            "krw_per_kwh": 100,
            "hours_per_day": 10,
            "amortise_months": 10,
            "tiers": {"box": {"hardware_krw": 1_000_000, "load_watts": 500, "idle_watts": 100}},
        }
    )
    # 300 hours on; 36,000 requests x 10 s = 100 busy hours at 500 W, 200 idle hours at 100 W = 70 kWh
    t = cost.Traffic("t", 36_000, 100, 100, {"gpt-4o-mini": 1.0}, seconds_per_request=10)
    row = cost.local_month(settings, t, "box")
    assert (row["busy_hours"], row["kwh"], row["power_krw"], row["hardware_krw_per_month"]) == (100, 70, 7000, 100_000)
    assert cost.local_krw_per_second(settings, "box") == pytest.approx((1_000_000 / 10 / 300 + 0.5 * 100) / 3600)
    with pytest.raises(KeyError, match="known: box"):
        cost.local_month(settings, t, "rtx9090")


def test_api_month_uses_price_overrides() -> None:
    settings = Settings(llm={"prices": {"my-model": (1.0, 2.0)}}, cost={"usd_krw": 1000})  # type: ignore[arg-type]
    t = cost.Traffic("t", 1_000_000, 500, 250, {"my-model": 1.0})
    assert cost.api_month(settings, t) == {"usd": 1000.0, "krw": 1_000_000, "usd_by_model": {"my-model": 1000.0}}


def shadow_record(local: tuple[int, int, int], api: tuple[int, int]) -> LLMComparison:
    """A hint answered locally (prompt, completion tokens, ms) and shadowed by gpt-4o-mini (its own counts)."""
    return LLMComparison(
        route="hint",
        primary_provider="llamacpp",
        primary_model="qwen",
        primary_text="a",
        primary_usage={"prompt_tokens": local[0], "completion_tokens": local[1], "total_ms": local[2]},
        shadow_provider="openai",
        shadow_model="gpt-4o-mini",
        shadow_text="b",
        shadow_usage={"prompt_tokens": api[0], "completion_tokens": api[1]},
    )


def test_from_recorded_traffic(db: Database) -> None:
    settings = Settings(
        llm={"shadow": {"hint": {"provider": "openai", "model": "gpt-4o-mini", "sample": 0.1}}}  # type: ignore[arg-type]
    )
    with db.session() as s:
        s.add_all(shadow_record((900, 90, 2000), (1000, 100)) for _ in range(3))
    t = cost.from_traffic(db, settings, days=3)
    assert t.requests == 300  # 3 records / 0.1 sample over 3 days -> 30 a day, 300 a month
    assert (t.prompt_tokens, t.completion_tokens, t.mix) == (1000, 100, {"gpt-4o-mini": 1.0})  # what the API bills
    assert t.seconds_per_request == 2.0
    with pytest.raises(LookupError, match="JINDAN_LLM__SHADOW"):  # no shadow configured, nothing counted
        cost.from_traffic(db, Settings(), days=3)


def test_counted_traffic_is_every_route_and_shadow_records_give_the_api_tokens(db: Database) -> None:
    log = TrafficLog(db)
    for route, provider, n in (("hint", "llamacpp", 20), ("explain", "llamacpp", 10), ("chat", "ollama", 30)):
        for _ in range(n):
            log.add(route, Usage(provider, "qwen", prompt_tokens=600, completion_tokens=60, total_ms=1500))
    assert log.flush() == 3
    only_counted = cost.from_traffic(db, Settings(), days=3)  # no shadow configured: the counts alone
    assert only_counted.requests == 600  # 60 answers over 3 days -> 20 a day, 600 a month
    assert (only_counted.prompt_tokens, only_counted.completion_tokens) == (600, 60)
    assert only_counted.mix == {Settings().openai.model: 1.0} and only_counted.seconds_per_request == 1.5
    shadowed = Settings(
        llm={"shadow": {"hint": {"provider": "openai", "model": "gpt-4o-mini", "sample": 0.5}}}  # type: ignore[arg-type]
    )
    with db.session() as s:
        s.add(shadow_record((600, 60, 1500), (800, 90)))
    both = cost.from_traffic(db, shadowed, days=3)
    assert both.requests == 600  # the volume is still every answer, not the shadowed share
    assert (both.prompt_tokens, both.completion_tokens, both.mix) == (800, 90, {"gpt-4o-mini": 1.0})


def test_cli_plan_json_and_table() -> None:
    result = runner.invoke(app, ["cost", "--plan", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["traffic"]["name"] for s in data["scenarios"]] == ["plan, low", "plan, high"]
    table = runner.invoke(app, ["cost", "--plan"], env={"COLUMNS": "160"})
    assert table.exit_code == 0 and "The plan: APIs" in table.output and "recommended" in table.output


def test_cli_operator_numbers() -> None:
    args = ["cost", "--requests", "10000", "--model", "gpt-4o-mini=3", "--model", "gpt-4o=1", "--tier", "cpu"]
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    (s,) = data["scenarios"]
    assert s["traffic"]["mix"] == {"gpt-4o-mini": 3.0, "gpt-4o": 1.0} and [r["tier"] for r in s["local"]] == ["cpu"]
    assert s["api"]["usd_by_model"]["gpt-4o"] > s["api"]["usd_by_model"]["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cost"], "one of --plan"),
        (["cost", "--plan", "--requests", "5"], "one of --plan"),
        (["cost", "--requests", "5", "--model", "gpt-4=lots"], "NAME=SHARE"),
        (["cost", "--requests", "5", "--tier", "rtx9090"], "unknown machine tier"),
    ],
)
def test_cli_bad_input_is_explained(args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and message in result.output
