from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jindan.cli.main import app

runner = CliRunner()


@pytest.fixture()
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path)}


def test_config_show_masks_secrets(env: dict[str, str]) -> None:
    env = {
        **env,
        "JINDAN_PROFILE": "legacy",
        "JINDAN_OPENAI__API_KEY": "sk-leak",
        "JINDAN_GEMINI__API_KEY": "g-leak",
    }
    result = runner.invoke(app, ["config", "show", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert "sk-leak" not in result.output and "g-leak" not in result.output
    data = json.loads(result.stdout)
    assert data["profile"] == "legacy" and data["openai"]["api_key"] == "***"
    table = runner.invoke(app, ["config", "show"], env=env)
    assert "JINDAN_LLM__PROVIDER" in table.stdout and "sk-leak" not in table.stdout


def test_bad_configuration_exits_with_a_message() -> None:
    result = runner.invoke(app, ["config", "show"], env={"JINDAN_LLM__PROVIDER": "gpt5"})
    assert result.exit_code == 2
    assert "Invalid configuration" in result.output


def test_import_twice_then_zero_changes(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bank.jsonl"
    path.write_text('{"id": "a", "problem": "1+1?"}\n{"id": "b", "problem": "2+2?"}\n{oops\n')
    first = runner.invoke(app, ["import", "questions", str(path)], env=env)
    assert first.exit_code == 0, first.output
    assert "2 changes" in first.output and "line 3" in first.output
    second = runner.invoke(app, ["import", "questions", str(path)], env=env)
    assert "0 changes" in second.output


def test_import_missing_file_and_bad_map(env: dict[str, str], tmp_path: Path) -> None:
    assert runner.invoke(app, ["import", "questions", str(tmp_path / "nope.jsonl")], env=env).exit_code == 2
    path = tmp_path / "bank.jsonl"
    path.write_text("{}\n")
    bad = runner.invoke(app, ["import", "questions", str(path), "--map", "wat=x"], env=env)
    assert bad.exit_code == 2 and "unknown field" in bad.output


def test_db_commands(env: dict[str, str]) -> None:
    from jindan.db.migrations import head

    assert f"applied: {head()}" in runner.invoke(app, ["db", "current"], env=env).output
    assert runner.invoke(app, ["db", "downgrade", "base"], env=env).exit_code == 0
    assert "applied: none" in runner.invoke(app, ["db", "current"], env=env).output
    refused = runner.invoke(app, ["import", "questions", __file__], env={**env, "JINDAN_PROFILE": "local"})
    assert refused.exit_code == 1 and "jindan db upgrade" in refused.output
    assert runner.invoke(app, ["db", "upgrade"], env=env).exit_code == 0


def test_import_responses_cli(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "logs.csv"
    path.write_text('fold,uid,concepts,responses\n0,s1,"1,2","1,0"\n')
    result = runner.invoke(app, ["import", "responses", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "1 changes" in result.output and "responses written: 2" in result.output
