from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from jindan.cli.main import app

runner = CliRunner()


def test_chat_streams_from_the_embedded_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["chat", "What is 2+2?", "--max-tokens", "12"], env={"JINDAN_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "llamacpp" in result.output and "tok/s" in result.output


def test_chat_reports_when_nothing_answers(tmp_path: Path) -> None:
    env = {
        "JINDAN_HOME": str(tmp_path),
        "JINDAN_LLM__PROVIDER": "ollama",
        "JINDAN_OLLAMA__HOSTS": '["http://127.0.0.1:9"]',
    }
    result = runner.invoke(app, ["chat", "hi"], env=env)
    assert result.exit_code == 1 and "no provider answered" in result.output


def test_doctor_json(db_url: str, tmp_path: Path) -> None:
    env = {"JINDAN_HOME": str(tmp_path), "JINDAN_DATABASE__URL": db_url}
    result = runner.invoke(app, ["doctor", "--json"], env=env)
    data = json.loads(result.stdout)
    assert data["hardware"]["ram_gb"] > 0 and "tier" in data
    assert {m["model"] for m in data["models"]} >= {"llama3.1:8b", "llama3.2:3b", "qwen2.5:7b"}
    assert all(m["pull"].startswith("ollama pull ") for m in data["models"])
    comps = {c["component"]: c for c in data["components"]}
    assert comps["database"]["ok"] and comps["llm-live:llamacpp"]["ok"]
    assert result.exit_code == 0


def test_doctor_says_what_is_down(db_url: str, tmp_path: Path) -> None:
    env = {
        "JINDAN_HOME": str(tmp_path),
        "JINDAN_DATABASE__URL": db_url,
        "JINDAN_VECTORS__STORE": "qdrant",
        "JINDAN_QDRANT__URL": "http://127.0.0.1:9",
    }
    table = runner.invoke(app, ["doctor"], env=env)
    assert table.exit_code == 1 and "DOWN" in table.output
    comps = {
        c["component"]: c for c in json.loads(runner.invoke(app, ["doctor", "--json"], env=env).stdout)["components"]
    }
    assert not comps["vectors:qdrant"]["ok"] and "is the server running" in comps["vectors:qdrant"]["detail"]


def test_bench_llm_prints_the_promised_keys(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["bench", "llm", "--json", "--rounds", "1", "--max-tokens", "4"],
        env={"JINDAN_HOME": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for side in ("ours", "raw"):
        assert data[side]["ttft_ms_p50"] > 0 and data[side]["tokens_per_s"] > 0
    assert data["ours"]["tokens"] == data["raw"]["tokens"]  # greedy: same tokens on both paths
