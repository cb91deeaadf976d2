"""`jindan legacy status|off|on` against a real PostgreSQL: the traffic table, the refusal inside the quiet
window, --force, and the rollback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from jindan.cli.main import app
from jindan.db.engine import Database
from jindan.db.models import LLMTraffic
from jindan.llm.legacy import read_state
from jindan.llm.legacy_usage import today
from jindan.settings import Settings

runner = CliRunner()


def test_status_off_on(db_url: str, tmp_path: Path) -> None:
    env = {"JINDAN_HOME": str(tmp_path), "JINDAN_DATABASE__URL": db_url, "COLUMNS": "250"}
    db = Database(Settings(home=tmp_path, database={"url": db_url}))  # type: ignore[arg-type]
    try:
        with db.session() as s:
            s.add(LLMTraffic(day=today() - timedelta(days=2), route="explain", provider="openai", model="gpt-4o-mini",
                             client_model="gpt-3.5-turbo", requests=4, prompt_tokens=40, completion_tokens=20,
                             seconds=2.0))  # fmt: skip
        result = runner.invoke(app, ["legacy", "status", "--json"], env=env)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout[result.stdout.index("{") :])
        assert report["state"] == "on" and report["quiet_days"] == 2
        assert [(u["route"], u["model"], u["requests"]) for u in report["traffic"]] == [("explain", "gpt-4o-mini", 4)]
        assert "gpt-4o-mini" in result.stderr and "explain" in result.stderr  # the table
        assert "client model" in result.stderr and "gpt-3.5-turbo" in result.stderr  # what the call site sends

        refused = runner.invoke(app, ["legacy", "off", "--quiet-days", "7"], env=env)
        assert refused.exit_code == 1 and "not switched off" in refused.output and "--force" in refused.output
        assert "sent as gpt-3.5-turbo through the gateway" in refused.output
        assert not read_state(db).off
        quiet = runner.invoke(app, ["legacy", "off", "--quiet-days", "2"], env=env)
        assert quiet.exit_code == 0, quiet.output
        assert read_state(db).off and "jindan legacy on" in quiet.output
        assert json.loads(runner.invoke(app, ["legacy", "status", "--json"], env=env).stdout)["state"] == "off"
        back = runner.invoke(app, ["legacy", "on"], env=env)
        assert back.exit_code == 0 and not read_state(db).off and "switched back on" in back.output
        forced = runner.invoke(app, ["legacy", "off", "--quiet-days", "30", "--force"], env=env)
        assert forced.exit_code == 0 and read_state(db).note.startswith("forced")
    finally:
        db.close()


def test_cli_routers_read_the_switch(db_url: str, tmp_path: Path) -> None:
    """`jindan chat` (and bench, warm, eval structured) builds its own router: it reads the switch from the
    configured database and refuses a switched-off provider as the service does, before any request."""
    env = {"JINDAN_HOME": str(tmp_path), "JINDAN_DATABASE__URL": db_url, "JINDAN_LLM__PROVIDER": "openai",
           "JINDAN_OPENAI__API_KEY": "sk-test", "JINDAN_PRIVACY__ALLOW": '["openai"]'}  # fmt: skip
    db = Database(Settings(home=tmp_path, database={"url": db_url}))  # type: ignore[arg-type]
    try:
        assert runner.invoke(app, ["legacy", "off", "--quiet-days", "1"], env=env).exit_code == 0
        refused = runner.invoke(app, ["chat", "2+2?"], env=env)
        assert refused.exit_code == 1 and "switched off" in refused.output and "jindan legacy on" in refused.output
        compared = runner.invoke(app, ["compare", "--providers", "llamacpp,openai", "--sample", "1"], env=env)
        assert compared.exit_code == 2 and "openai: legacy providers" in compared.output, compared.output
    finally:
        db.close()
