"""Answer checks counted in PostgreSQL (real database): what the operator page and reviewers read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from sqlalchemy import func, select

from jindan.answers.checks import Verdict
from jindan.answers.gate import Checked, Example
from jindan.answers.log import AnswerLog, summary
from jindan.answers.rates import rates
from jindan.db.engine import Database
from jindan.db.models import AnswerCheck, AnswerExample

OK = Verdict("language", True, "hangul 0.9")
ECHO = Verdict("echo", False, "copies the question")
LOOP = Verdict("degenerate", False, "a phrase repeats")


def model_failed(*failing: Verdict) -> Checked:
    return Checked("bank", True, (OK,), False, (OK, *failing), "llamacpp", "smol")


def model_passed() -> Checked:
    return Checked("model", True, (OK,), True, (OK,), "llamacpp", "smol")


def test_counts_and_examples_reach_the_operator_summary(db: Database) -> None:
    log = AnswerLog(db)
    log.add("hint", model_failed(ECHO), Example(7, "echo", "copies the question", "x+y=7을 다시 읽어 보세요"))
    log.add("hint", model_failed(ECHO, LOOP), None)
    log.add("hint", model_passed(), None)
    log.add("hint", Checked("bank", True, (OK,), None, (), "llamacpp", "smol"), None)  # the model was not asked
    log.add("explain", Checked("none", False, ()), None)  # nothing passed: the student saw a notice
    log.add("explain", Checked("none", False, ()), None)
    assert log.flush() > 0
    out = summary(db, datetime.now(UTC).date())
    hint = next(r for r in out["routes"] if r["route"] == "hint")
    assert hint["model"] == "llamacpp/smol" and hint["n"] == 4 and hint["presentable_rate"] == 1.0
    assert hint["model_n"] == 3 and hint["model_pass_rate"] == round(1 / 3, 3)
    assert hint["failures"] == {"echo": round(2 / 3, 3), "degenerate": round(1 / 3, 3)}  # worst first
    explain = next(r for r in out["routes"] if r["route"] == "explain")
    assert explain["presentable_rate"] == 0.0 and explain["model_pass_rate"] is None and explain["n"] == 2
    assert explain["model"] == "-"  # no model in charge
    [example] = out["examples"]
    assert example["question_id"] == 7 and example["check"] == "echo" and "다시 읽어" in example["text"]
    assert summary(db, datetime.now(UTC).date() + timedelta(days=1))["routes"] == []


def test_a_second_flush_adds_to_the_same_day(db: Database) -> None:
    log = AnswerLog(db)
    log.add("hint", model_passed(), None)
    log.flush()
    log.add("hint", model_failed(ECHO), None)
    log.flush()
    with db.session() as s:
        total, failed = s.execute(
            select(func.sum(AnswerCheck.total), func.sum(AnswerCheck.failed)).where(AnswerCheck.check == "model")
        ).one()
    assert (total, failed) == (2, 1)
    assert log.flush() == 0  # nothing new


def test_a_failed_flush_keeps_its_counts_for_the_next(db: Database) -> None:
    log = AnswerLog(db)
    log.add("hint", model_failed(ECHO), Example(None, "echo", "r", "t"))
    with patch.object(db, "session", side_effect=RuntimeError("database down")), pytest.raises(RuntimeError):
        log.flush()
    assert log.flush() > 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AnswerExample)) == 1
        assert s.scalar(select(AnswerCheck.failed).where(AnswerCheck.check == "echo")) == 1


def test_rates_of_shown_and_model_answers() -> None:
    correct = Verdict("correct", True, "agrees with the key")
    wrong = Verdict("correct", False, "3 is not 5")
    checked = [
        Checked("model", True, (OK, correct), True, (OK, correct)),
        Checked("bank", True, (OK, correct), False, (OK, wrong)),
        Checked("bank", True, (OK, correct)),  # the model was not asked
        Checked("none", False, (Verdict("answered", False, "no solution"),)),
    ]
    r = rates(checked)
    assert r["presentable_rate"] == 0.75 and r["fallback_rate"] == 0.75
    assert r["model_pass_rate"] == 0.5 and r["failures"] == {"correct": 0.5}
    assert r["correct_rate"] == 1.0 and r["model_correct_rate"] == 0.5
    assert r["leak_rate"] is None
    apart = rates(checked, own=[(OK,), (OK,), (ECHO,), ()])  # the model's own answers measured apart
    assert apart["model_pass_rate"] == round(2 / 3, 3) and apart["failures"] == {"echo": round(1 / 3, 3)}
