"""Provable local-only privacy: destinations, the start-up refusal, shadow runs without student text, and the
whole flow on the default stack in a process that cannot reach anything but loopback."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from jindan.llm.base import ChatMessage, GenOptions
from jindan.llm.router import Router
from jindan.llm.shadow import ShadowRunner
from jindan.security import privacy
from jindan.settings import Settings
from tests.llm.fakes import Scripted

HERE = Path(__file__).resolve().parent


def local(**over: object) -> Settings:
    return Settings(profile="local", **over)  # type: ignore[arg-type]


def test_the_default_profiles_are_local_only() -> None:
    for s in (Settings(), local()):
        assert privacy.violations(s) == []
        assert privacy.status(s).startswith("local-only")


@pytest.mark.parametrize(
    ("over", "culprit"),
    [
        ({"llm": {"fallback": ["openai"]}}, "openai (api.openai.com) for llm:"),
        ({"llm": {"routes": {"hint": ["ollama", "gemini"]}}}, "gemini (generativelanguage.googleapis.com)"),
        ({"llm": {"shadow": {"explain": {"provider": "openai", "sample": 0.1}}}}, "for llm-shadow:explain"),
        ({"llm": {"provider": "openai"}, "openai": {"base_url": "https://vllm.example.com/v1"}}, "vllm.example.com"),
        ({"embed": {"provider": "openai"}}, "for embedder"),
        ({"ollama": {"hosts": ["http://gpu.example.com:11434"]}}, "gpu.example.com"),
        ({"qdrant": {"url": "https://xyz.cloud.qdrant.io:6333"}}, "xyz.cloud.qdrant.io"),
        ({"database": {"url": "postgresql+psycopg://u:p@db.example.com/j"}}, "db.example.com"),
    ],
)
def test_external_destinations_stop_start_up(over: dict[str, object], culprit: str) -> None:
    s = local(**over)
    with pytest.raises(privacy.PrivacyViolation, match="JINDAN_PRIVACY__ALLOW") as info:
        privacy.check(s)
    assert culprit in str(info.value)


def test_private_networks_and_the_allow_list() -> None:
    for host in ("127.0.0.1", "10.0.0.7", "192.168.1.20", "172.16.5.5", "[::1]", "ollama", "gpu01.internal", "x.lan"):
        assert privacy.is_private_host(host), host
    for host in ("api.openai.com", "8.8.8.8", "gpu.example.com"):
        assert not privacy.is_private_host(host), host
    s = local(
        ollama={"hosts": ["http://10.1.2.3:11434", "http://ollama:11434"]}, openai={"base_url": "http://vllm:8000/v1"}
    )
    assert privacy.violations(s) == []
    allowed = local(llm={"fallback": ["openai"]}, privacy={"allow": ["openai"]})
    privacy.check(allowed)
    assert privacy.status(allowed) == "external destinations (allowed by privacy.allow): openai (api.openai.com)"
    by_host = local(ollama={"hosts": ["http://gpu.example.com:11434"]}, privacy={"allow": ["gpu.example.com"]})
    privacy.check(by_host)
    assert privacy.violations(Settings(profile="legacy")) == []  # the old stack is external by definition
    assert "the legacy profile" in privacy.status(Settings(profile="legacy"))


def test_create_app_and_cli_routers_refuse(settings: Settings) -> None:
    from jindan.api.app import create_app
    from jindan.llm.router import build_router
    from jindan.settings import ShadowSettings

    settings.llm.shadow = {"hint": ShadowSettings(provider="gemini", sample=1.0)}
    with pytest.raises(privacy.PrivacyViolation, match="gemini"):
        create_app(settings)
    with pytest.raises(privacy.PrivacyViolation, match="gemini"):
        build_router(settings)


def test_config_show_states_the_privacy_status(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from jindan.cli.main import app

    env = {"JINDAN_HOME": str(tmp_path), "JINDAN_LLM__FALLBACK": '["openai"]', "JINDAN_PRIVACY__ALLOW": '["openai"]'}
    r = CliRunner().invoke(app, ["config", "show"], env=env)
    assert r.exit_code == 0 and "external destinations (allowed by privacy.allow): openai" in r.output


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def record(self, comparison: object) -> None:
        self.seen.append(getattr(comparison, "route", ""))


def test_shadow_runs_to_an_external_provider_never_carry_student_text() -> None:
    s = local(
        llm={"provider": "ollama", "shadow": {"hint": {"provider": "openai", "sample": 1.0}}},
        privacy={"allow": ["openai"]},
    )
    sink, shadow_llm = Recorder(), Scripted("openai")
    runner = ShadowRunner(s, sink, providers={"openai:": shadow_llm})  # type: ignore[arg-type]
    router = Router(s, {"ollama": Scripted("ollama")}, shadow=runner)

    async def ask(student_text: bool) -> None:
        msgs = [ChatMessage("user", "<student>x = 3</student>" if student_text else "explain question 4")]
        async for _ in router.stream("hint", msgs, GenOptions(), student_text=student_text):
            pass
        await runner.drain()

    asyncio.run(ask(student_text=True))
    assert shadow_llm.calls == 0 and sink.seen == []
    asyncio.run(ask(student_text=False))
    assert shadow_llm.calls == 1
    s.privacy.shadow_student_text = True
    asyncio.run(ask(student_text=True))
    assert shadow_llm.calls == 2


def test_guarded_profiles_force_offline_hubs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    privacy.enforce_offline(Settings())
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def _isolated(cmd: list[str], env: dict[str, str]) -> tuple[list[str], str]:
    """The command in a network namespace with only loopback; else under the socket guard."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        script = "ip link set lo up 2>/dev/null || true; exec " + " ".join(f"'{c}'" for c in cmd)
        return ["unshare", "-n", "sh", "-c", script], "network namespace"
    guard = Path(tempfile.mkdtemp(prefix="jindan-guard-"))
    shutil.copy(HERE / "guard_sitecustomize.py", guard / "sitecustomize.py")
    env["PYTHONPATH"] = f"{guard}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return cmd, "socket guard"


@pytest.mark.slow
def test_the_whole_flow_runs_with_no_network(tmp_path: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="jindan-offline-", dir="/tmp"))  # pgserver needs readable parents
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JINDAN_", "HF_"))}
    try:
        cmd, how = _isolated([sys.executable, str(HERE / "offline_flow.py"), str(home)], env)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=HERE.parents[1])
        steps = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        names = [s["step"] for s in steps if s["ok"]]
        assert proc.returncode == 0, f"({how}) {steps[-1:] or proc.stderr[-2000:]}"
        expected = ["no-network", "import", "index", "privacy-status", "ready", "search", "similar", "explain", "hint"]
        expected += ["ask", "responses", "diagnosis", "chat", "done"]
        assert names == expected
    finally:
        shutil.rmtree(home, ignore_errors=True)
