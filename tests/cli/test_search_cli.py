"""The retrieval, RAG and diagnosis commands end to end through the CLI (real components)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from tests.conftest import shared_file
from typer.testing import CliRunner

from jindan.cli.main import app

runner = CliRunner()


def test_import_index_search_explain(db_url: str, tmp_path: Path) -> None:
    src = shared_file("math/problems.jsonl")
    bank = tmp_path / "math" / "problems.jsonl"
    bank.parent.mkdir()
    bank.write_text("".join(itertools.islice(src.open(), 0, 5000, 100)))
    env = {
        "JINDAN_DATABASE__URL": db_url,
        "JINDAN_HOME": str(tmp_path),
        "JINDAN_LLM__MAX_TOKENS": "16",
        "JINDAN_LLAMACPP__N_CTX": "2048",
    }
    assert runner.invoke(app, ["import", "questions", str(bank)], env=env).exit_code == 0
    missing = runner.invoke(app, ["search", "triangle"], env=env)
    assert missing.exit_code == 1 and "jindan index questions" in missing.output
    first = runner.invoke(app, ["index", "questions"], env=env)
    assert first.exit_code == 0 and "50 embedded" in first.output, first.output
    again = runner.invoke(app, ["index", "questions"], env=env)
    assert "0 embedded, 50 unchanged" in again.output
    found = runner.invoke(app, ["search", "area of a triangle", "-k", "3", "--json"], env=env)
    assert found.exit_code == 0 and len(json.loads(found.stdout)["results"]) == 3
    qid = json.loads(found.stdout)["results"][0]["id"]
    similar = runner.invoke(app, ["search", "--id", str(qid), "-k", "2", "--json"], env=env)
    assert json.loads(similar.stdout)["intent"] == "similar"
    assert qid not in [f["id"] for f in json.loads(similar.stdout)["results"]]
    assert runner.invoke(app, ["search"], env=env).exit_code == 2
    explained = runner.invoke(app, ["explain", str(qid)], env=env)
    assert explained.exit_code == 0, explained.output
    assert "[1] question" in explained.output and "cited:" in explained.output
    assert runner.invoke(app, ["hint", "999999"], env=env).exit_code == 1


def test_diagnosis_commands(db_url: str, tmp_path: Path) -> None:
    src = shared_file("assist2015/train_valid.csv")
    folder = tmp_path / "assist2015"
    folder.mkdir()
    with src.open() as fh, (folder / "train_valid.csv").open("w") as out:
        out.writelines(itertools.islice(fh, 300))
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path)}
    assert runner.invoke(app, ["diagnosis", "student", "1"], env=env).exit_code == 1  # no model yet
    assert runner.invoke(app, ["import", "responses", str(folder / "train_valid.csv")], env=env).exit_code == 0
    fitted = runner.invoke(app, ["diagnosis", "fit"], env=env)
    assert fitted.exit_code == 0 and "responses" in fitted.output
    assert "GRU fitted in" in fitted.output and "boosted trees fitted in" in fitted.output
    assert "attention model fitted in" in fitted.output
    result = runner.invoke(app, ["diagnosis", "student", "1", "--json", "--no-narrative"], env=env)
    assert result.exit_code == 0 and json.loads(result.stdout)["responses"] > 0
