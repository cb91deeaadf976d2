"""The legacy switch: which providers are legacy, the traffic that still reaches them (from the stored
counts), the switch-off that waits for a quiet window, state shared through PostgreSQL, and the router that
skips switched-off providers (falling back, or failing with the reason)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jindan.db.engine import Database
from jindan.db.models import LLMComparison, LLMTraffic
from jindan.llm.base import ChatMessage
from jindan.llm.legacy import LegacyGate, legacy_providers, read_state
from jindan.llm.legacy_usage import StillUsed, status, switch_off, switch_on, today, uses
from jindan.llm.router import ProvidersSwitchedOff, Router
from jindan.settings import Settings, ShadowSettings
from tests.llm.fakes import Scripted

ASK = [ChatMessage("user", "2+2?")]


def traffic(db: Database, days_ago: int, route: str, provider: str, model: str, n: int, sent: str = "") -> None:
    with db.session() as s:
        s.add(LLMTraffic(day=today() - timedelta(days=days_ago), route=route, provider=provider, model=model,
                         client_model=sent, requests=n, prompt_tokens=10 * n, completion_tokens=5 * n,
                         seconds=0.5 * n))  # fmt: skip


def shadow_run(db: Database, days_ago: int) -> None:
    with db.session() as s:
        s.add(LLMComparison(created_at=datetime.now(UTC) - timedelta(days=days_ago), route="chat",
                            primary_provider="llamacpp", primary_model="smollm2", shadow_provider="gemini",
                            shadow_model="gemini-1.5-flash", primary_text="a", shadow_text="b", primary_usage={},
                            shadow_usage={}))  # fmt: skip


def test_legacy_means_the_vendors_own_apis(settings: Settings) -> None:
    assert legacy_providers(settings) == ("openai", "gemini")
    settings.openai.base_url = "http://vllm:8000/v1"  # an OpenAI-compatible server on the private network
    assert legacy_providers(settings) == ("gemini",)
    settings.openai.base_url = "https://api.openai.com/v1"
    assert legacy_providers(settings) == ("openai", "gemini")


def test_status_lists_legacy_traffic_per_day_route_and_model(settings: Settings, db: Database) -> None:
    traffic(db, 1, "explain", "openai", "gpt-4o-mini", 3, sent="gpt-4")  # a gateway client sent gpt-4
    traffic(db, 1, "explain", "openai", "gpt-4o-mini", 4)  # jindan's own explain route
    traffic(db, 1, "explain", "llamacpp", "smollm2", 50)  # not legacy
    traffic(db, 12, "hint", "gemini", "gemini-1.5-flash", 2)
    shadow_run(db, 2)
    shadow_run(db, 2)
    report = status(db, settings, days=30)
    assert report["state"] == "on" and report["legacy_providers"] == ["openai", "gemini"]
    assert report["last_legacy_day"] == (today() - timedelta(days=1)).isoformat() and report["quiet_days"] == 1
    rows = [(r["route"], r["provider"], r["model"], r["client_model"], r["via"], r["requests"])
            for r in report["traffic"]]  # fmt: skip
    assert rows == [
        ("explain", "openai", "gpt-4o-mini", "gpt-4", "answer", 3),
        ("explain", "openai", "gpt-4o-mini", "", "answer", 4),
        ("chat", "gemini", "gemini-1.5-flash", "", "shadow", 2),
        ("hint", "gemini", "gemini-1.5-flash", "", "answer", 2),
    ]
    assert [u.route for u in uses(db, settings, days=7)] == ["explain", "explain", "chat"]  # 12 days ago: outside


def test_switch_off_waits_for_the_quiet_window_and_is_reversible(settings: Settings, db: Database) -> None:
    traffic(db, 3, "explain", "openai", "gpt-4o-mini", 3)
    with pytest.raises(StillUsed, match=r"explain -> openai/gpt-4o-mini \(answer\).*last 7 days.*--force"):
        switch_off(db, settings, quiet_days=7, by="ops")
    assert not read_state(db).off
    state = switch_off(db, settings, quiet_days=3, by="ops")  # 3 days ago is outside the last 3 days
    assert state.off and state.changed_by == "ops" and "jindan legacy on" in state.line()
    switch_on(db, by="ops")
    forced = switch_off(db, settings, quiet_days=7, force=True, by="kim")
    assert forced.off and forced.note.startswith("forced; 3 legacy requests")
    replica = LegacyGate(settings, db)  # another replica reads the same state
    assert replica.refused("openai") is None  # before its first refresh
    replica.refresh()
    assert "switched off" in (replica.refused("gemini") or "") and replica.refused("llamacpp") is None
    switch_on(db, by="kim")
    assert replica.refresh().off is False and replica.refused("openai") is None


def router(settings: Settings, db: Database, chain: list[str], providers: dict[str, Scripted]) -> Router:
    settings.llm.routes = {"explain": chain}  # type: ignore[dict-item]
    r = Router(settings, providers, backoff_s=0.0)  # type: ignore[arg-type]
    r.gate = gate = LegacyGate(settings, db)
    gate.refresh()
    return r


async def answer(r: Router) -> str:
    return "".join([getattr(e, "text", "") async for e in r.stream("explain", ASK)])


def test_router_skips_switched_off_providers(settings: Settings, db: Database) -> None:
    openai, local = Scripted("openai"), Scripted("llamacpp")
    switch_off(db, settings, quiet_days=7, by="ops")
    r = router(settings, db, ["openai", "llamacpp"], {"openai": openai, "llamacpp": local})
    assert asyncio.run(answer(r)) == "answer from llamacpp" and openai.calls == 0
    only = router(settings, db, ["openai"], {"openai": openai})
    with pytest.raises(ProvidersSwitchedOff, match=r"openai: legacy providers \(gemini, openai\) are switched off.*"
                                                  r"`jindan legacy on` restores them"):  # fmt: skip
        asyncio.run(answer(only))
    switch_on(db, by="ops")
    assert only.gate is not None and isinstance(only.gate, LegacyGate)
    only.gate.refresh()
    assert asyncio.run(answer(only)) == "answer from openai" and openai.calls == 1


def test_no_shadow_run_to_a_switched_off_provider(settings: Settings, db: Database) -> None:
    settings.llm.shadow = {"explain": ShadowSettings(provider="gemini", model="gemini-1.5-flash", sample=1.0)}
    r = router(settings, db, ["llamacpp"], {"llamacpp": Scripted("llamacpp")})
    r.shadow = object()  # present: only the switch decides
    assert r.may_shadow("explain", student_text=False)
    switch_off(db, settings, quiet_days=1, by="ops")
    assert isinstance(r.gate, LegacyGate) and r.gate.refresh().off
    assert not r.may_shadow("explain", student_text=False)


def test_a_cli_command_reads_the_switch_once(settings: Settings, db: Database, tmp_path: Path) -> None:
    from jindan.llm.legacy import in_use, read_once

    assert in_use(settings) == () and read_once(settings) == (None, None)  # local chains: nothing to read
    settings.llm.routes = {"chat": ["openai", "llamacpp"]}  # type: ignore[dict-item]
    assert in_use(settings) == ("openai",)
    switch_off(db, settings, quiet_days=1, force=True, by="ops")
    gate, unread = read_once(settings)  # from the configured database
    assert gate is not None and unread is None and "switched off" in (gate.refused("openai") or "")
    gate, _ = read_once(settings, db)  # from the command's own connection
    assert gate is not None and gate.refused("openai")
    unconfigured = Settings(home=tmp_path / "nowhere")
    unconfigured.llm.provider = "gemini"
    assert read_once(unconfigured) == (None, "no database configured: the legacy switch was not read: legacy "
                                              "providers (gemini) stay allowed for this command")  # fmt: skip
    down = Settings(home=tmp_path, database={"url": "postgresql+psycopg://x@127.0.0.1:9/none"})  # type: ignore[arg-type]
    down.embed.provider = "openai"
    gate, unread = read_once(down)
    assert gate is None and unread is not None and unread.startswith("the database did not answer")
    assert unread.endswith("legacy providers (openai) stay allowed for this command")
