"""`jindan eval answers` on a small Korean bank with the embedded model (real components end to end)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.rag import ko_rows
from typer.testing import CliRunner

from jindan.cli.main import app

runner = CliRunner()


def test_korean_answers_come_from_the_bank_and_the_model_is_still_measured(db_url: str, tmp_path: Path) -> None:
    bank = tmp_path / "ko" / "questions.jsonl"
    bank.parent.mkdir()
    rows = ko_rows(("일차방정식",), per=3)
    bank.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path), "JINDAN_LLAMACPP__N_CTX": "2048"}
    assert runner.invoke(app, ["eval", "answers", "--bank", str(bank), "--task", "chat"], env=env).exit_code == 2

    run = runner.invoke(app, ["eval", "answers", "--bank", str(bank), "--sample", "2", "--json"], env=env)
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout[run.stdout.index("{") :])
    assert report["questions"] == 2 and report["model"].startswith("llamacpp/")
    hint, explain = report["hint"], report["explain"]
    # the embedded English model is not asked to write Korean: the bank's ladder and solution answer...
    assert hint["presentable_rate"] == 1.0 and hint["fallback_rate"] == 1.0 and hint["model_asked_rate"] == 0.0
    assert hint["leak_rate"] == 0.0
    assert explain["presentable_rate"] == 1.0 and explain["correct_rate"] == 1.0
    # ...and its own answers were asked apart and judged, never hidden behind the fallback
    for task in (hint, explain):
        assert task["n"] == 2 and task["model_pass_rate"] is not None and task["ttft_ms_p50"] > 0
        assert set(task["failures"]) <= {"language", "leak", "echo", "degenerate", "grounded", "correct"}
    assert hint["model_pass_rate"] < 1.0 and hint["failures"]  # SmolLM2's Korean hints fail, and say which check
    assert all(e["check"] in hint["failures"] and e["reason"] for e in hint["examples"])


def test_a_bank_without_keys_says_so(db_url: str, tmp_path: Path) -> None:
    bank = tmp_path / "q.jsonl"
    bank.write_text(json.dumps({"id": "x1", "body": "2+2는?", "subject": "수"}, ensure_ascii=False) + "\n")
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path)}
    run = runner.invoke(app, ["eval", "answers", "--bank", str(bank)], env=env)
    assert run.exit_code == 1 and "answer key" in run.output
