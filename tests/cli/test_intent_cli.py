"""`jindan search --intent` and `jindan eval retrieval --bank` end to end (real e5, real PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.rag import ko_queries, ko_rows
from typer.testing import CliRunner

from jindan.cli.main import app

runner = CliRunner()


def test_search_intents_and_the_korean_bank_evaluation(db_url: str, tmp_path: Path) -> None:
    rows = ko_rows(("일차방정식", "피타고라스 정리", "확률"), per=4)
    bank = tmp_path / "ko"
    bank.mkdir()
    (bank / "questions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    queries = ko_queries({r["id"] for r in rows})
    (bank / "queries.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries))
    env = {"JINDAN_DATABASE__URL": db_url, "JINDAN_HOME": str(tmp_path / "home")}
    assert runner.invoke(app, ["import", "questions", str(bank / "questions.jsonl")], env=env).exit_code == 0
    indexed = runner.invoke(app, ["index", "questions"], env=env)
    assert indexed.exit_code == 0 and "questions__multilingual_e5_small__v1 (new)" in indexed.output, indexed.output

    pasted = next(q for q in queries if q["style"] == "pasted")
    found = runner.invoke(app, ["search", pasted["text"], "-k", "3", "--json"], env=env)
    first = json.loads(found.stdout)
    assert first["intent"] == "find" and first["results"][0]["title"].endswith(f"/{pasted['question_id']}")
    similar = runner.invoke(app, ["search", pasted["text"], "--intent", "similar", "-k", "3", "--json"], env=env)
    practice = json.loads(similar.stdout)
    assert practice["intent"] == "similar" and len(practice["results"]) == 3
    own_subject = next(r["subject"] for r in rows if r["id"] == pasted["question_id"])
    assert practice["topic"]["subject"] == own_subject and practice["topic"]["source"] == "anchor"
    assert {f["subject"] for f in practice["results"]} == {own_subject}
    unknown = ["search", pasted["text"], "--intent", "similar", "--subject", "점성술"]
    refused = runner.invoke(app, unknown, env=env)
    assert refused.exit_code == 1 and "점성술" in refused.output
    assert not any(f["title"].endswith(f"/{pasted['question_id']}") for f in practice["results"])
    assert runner.invoke(app, ["search", "--id", "1", "--intent", "find"], env=env).exit_code == 2
    assert runner.invoke(app, ["search", "x", "--intent", "browse"], env=env).exit_code == 2

    evaluated = runner.invoke(app, ["eval", "retrieval", "--bank", str(bank), "--intent", "find", "--json"], env=env)
    result = json.loads(evaluated.stdout)
    assert (result["intent"], result["embedder"], result["queries"]) == ("find", "multilingual-e5-small", 24)
    assert result["mrr"] >= 0.9
    same = runner.invoke(app, ["eval", "retrieval", "--bank", str(bank), "--intent", "similar", "--json"], env=env)
    assert json.loads(same.stdout)["intent"] == "similar"
    args = ["eval", "retrieval", "--bank", str(bank), "--intent", "similar", "--out-of-bank", "--json"]
    held = json.loads(runner.invoke(app, args, env=env).stdout)
    assert held["out_of_bank"] is True and held["topic_model"] == 3 and 0 < held["corpus"] < 12
    assert held["curriculum_subjects"] == 3  # the Korean units are the curriculum's: its glossary knows them
    assert 0 <= held["subject_accuracy"] <= 1 and set(held["by_style"]) == {"typed", "pasted"}
    assert held["p_at_10_reachable"] >= held["p_at_10"]
    wrong = ["eval", "retrieval", "--bank", str(bank), "--intent", "find", "--out-of-bank"]
    assert runner.invoke(app, wrong, env=env).exit_code == 2
    assert runner.invoke(app, ["eval", "retrieval", "--intent", "find"], env=env).exit_code == 2
