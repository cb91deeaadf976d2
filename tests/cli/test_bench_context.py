"""`jindan bench context`: one change to the retrieved context at a time, on the same questions, cold."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from tests.conftest import shared_file
from typer.testing import CliRunner

from jindan.bench.context import _row, variants
from jindan.bench.e2e import Sample
from jindan.cli.main import app
from jindan.rag.prompt import FITS

runner = CliRunner()


def test_each_hint_variant_changes_what_the_prompt_holds(db_url: str, tmp_path: Path) -> None:
    src = shared_file("math/problems.jsonl")
    bank = tmp_path / "math" / "problems.jsonl"
    bank.parent.mkdir()
    bank.write_text("".join(itertools.islice(src.open(), 0, 5000, 125)))  # 40 questions
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path), "JINDAN_LLAMACPP__N_CTX": "2048"}
    assert runner.invoke(app, ["import", "questions", str(bank)], env=env).exit_code == 0
    assert runner.invoke(app, ["index", "questions"], env=env).exit_code == 0
    assert runner.invoke(app, ["bench", "context", "--task", "chat"], env=env).exit_code == 2

    bench = runner.invoke(app, ["bench", "context", "--json", "--questions", "1", "--task", "hint"], env=env)
    assert bench.exit_code == 0, bench.output
    rows = {r["variant"]: r for r in json.loads(bench.stdout)["variants"]}
    assert list(rows) == [name for task, name, _ in variants() if task == "hint"]
    items = [rows[n]["context_items_p50"] for n in ("no context", "1 item", "2 items", "3 items (default)")]
    assert items[0] == 0 and items == sorted(items) and items[-1] >= 1  # the token cap may stop it before 3
    tokens = {n: r["prompt_tokens_p50"] for n, r in rows.items()}
    assert tokens["no context"] < tokens["1 item"] <= tokens["3 items (default)"]
    shorter = rows["3 items, no solutions"]  # shorter items: as many or more fit under the same cap
    assert shorter["context_items_p50"] >= rows["3 items (default)"]["context_items_p50"]
    assert tokens["3 items, 500-char solutions"] > tokens["3 items (default)"]
    for r in rows.values():
        assert r["n"] == 1 and r["ttft_ms_p50"] > 0 and "leak_rate" in r and "correct_rate" not in r
    assert (tmp_path / "prefix-cache").exists() is False or not list((tmp_path / "prefix-cache").rglob("*.kv"))


def test_an_explanation_is_judged_by_its_final_answer() -> None:
    def sample(text: str) -> Sample:
        return Sample(900.0, 2000.0, 5.0, 400, 60, text, cited=False, leak=None)

    fit = FITS["explain"]
    row = _row("explain", "4 items (default)", fit, [sample("so x = 5"), sample("x is 7")], [True, False], [4, 3])
    assert row["correct_rate"] == 0.5 and "leak_rate" not in row
    assert row["context_items_p50"] == 4 and row["items"] == fit.items and row["variant"] == "4 items (default)"
