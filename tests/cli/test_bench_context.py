"""`jindan bench context`: one change to the retrieved context at a time, on the same questions, cold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jindan.bench.context import _row, variants
from jindan.bench.e2e import Sample, isolated
from jindan.cli.main import app
from jindan.llm import llamacpp_weights
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.llm.router import Router
from jindan.rag.prompt import FITS
from jindan.settings import Settings

runner = CliRunner()


def test_each_hint_variant_changes_what_the_prompt_holds(cli_bank: dict[str, str], tmp_path: Path) -> None:
    env = cli_bank
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


def test_a_bench_that_cannot_run_says_why(db_url: str, tmp_path: Path) -> None:
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path)}
    empty = runner.invoke(app, ["bench", "context", "--json", "--questions", "1"], env=env)
    assert empty.exit_code == 1 and "cannot run the bench" in empty.output and "no question" in empty.output
    assert empty.exception is None or isinstance(empty.exception, SystemExit)


def test_the_bench_keeps_off_the_real_prefix_cache_when_the_weights_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(source: Path, target: Path) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(llamacpp_weights, "convert", fail)
    no_copy_yet = {"n_ctx": 512, "weights": "f16", "weights_dir": str(tmp_path / "models")}
    settings = Settings(home=tmp_path, llamacpp=no_copy_yet)  # type: ignore[arg-type]
    provider = LlamaCppProvider.from_settings(settings)
    assert provider.prefix_cache is not None and provider.prefix_cache.dir is not None
    real = provider.prefix_cache.dir

    async def body() -> Path | None:
        return provider.prefix_cache.dir if provider.prefix_cache is not None else None

    seen, _ = isolated(Router(settings, {"llamacpp": provider}), body)
    assert provider.weights == "as-is"  # the load replaced the prefix cache
    assert seen is not None and seen != real and tmp_path not in seen.parents
