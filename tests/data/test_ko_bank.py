"""The Korean question bank shipped in the package: well-formed, balanced across units, importable twice."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.importers.questions import import_questions

BANK = Path(str(files("jindan"))) / "data" / "ko"
UNITS = (
    "정수와 유리수",
    "일차방정식",
    "연립방정식",
    "부등식",
    "일차함수",
    "이차방정식",
    "이차함수",
    "피타고라스 정리",
    "삼각비",
    "경우의 수",
    "확률",
    "통계",
    "수열",
    "지수와 로그",
    "미분",
    "적분",
)
GRADES = {"중1", "중2", "중3", "고1", "고2", "고3"}
CIRCLED = "①②③④⑤"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
FIELDS: dict[str, type] = {
    "id": str,
    "body": str,
    "subject": str,
    "grade": str,
    "level": int,
    "answer": str,
    "explanation": str,
    "concepts": list,
    "source": str,
}


def _load(name: str) -> list[dict[str, Any]]:
    with (BANK / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def questions() -> list[dict[str, Any]]:
    return _load("questions.jsonl")


@pytest.fixture(scope="module")
def queries() -> list[dict[str, Any]]:
    return _load("queries.jsonl")


def test_bank_has_enough_questions_with_unique_ids(questions: list[dict[str, Any]]) -> None:
    ids = [q["id"] for q in questions]
    assert len(questions) >= 160
    assert len(set(ids)) == len(ids), [i for i, n in Counter(ids).items() if n > 1]
    assert all(re.fullmatch(r"ko-\d{3}", i) for i in ids)


def test_every_field_is_present_with_its_type(questions: list[dict[str, Any]]) -> None:
    for q in questions:
        assert set(q) - set(FIELDS) <= {"choices"}, q["id"]
        for field, kind in FIELDS.items():
            assert isinstance(q.get(field), kind), (q["id"], field)
            assert q[field] or field == "level", (q["id"], field)
        assert q["grade"] in GRADES and 1 <= q["level"] <= 5 and q["source"] == "ko-math", q["id"]
        assert 1 <= len(q["concepts"]) <= 3 and all(isinstance(c, str) and c for c in q["concepts"]), q["id"]


def test_every_unit_is_known_and_has_enough_questions(questions: list[dict[str, Any]]) -> None:
    per_unit = Counter(q["subject"] for q in questions)
    assert set(per_unit) <= set(UNITS), set(per_unit) - set(UNITS)
    assert {u: per_unit[u] for u in UNITS if per_unit[u] < 8} == {}


def test_questions_and_explanations_are_korean_with_balanced_formulas(questions: list[dict[str, Any]]) -> None:
    for q in questions:
        assert HANGUL.search(q["body"]) and HANGUL.search(q["explanation"]), q["id"]
        for text in (q["body"], q["answer"], q["explanation"], *q.get("choices", [])):
            assert text.count("$") % 2 == 0, (q["id"], text)


def test_multiple_choice_answer_names_one_of_five_options(questions: list[dict[str, Any]]) -> None:
    mc = [q for q in questions if "choices" in q]
    assert len(mc) >= len(questions) // 4
    for q in mc:
        choices = q["choices"]
        assert isinstance(choices, list) and len(choices) == 5 and len(set(choices)) == 5, q["id"]
        assert all(isinstance(c, str) and c for c in choices), q["id"]
        number, rest = q["answer"][:1], q["answer"][1:].strip()
        assert number in CIRCLED, (q["id"], q["answer"])
        assert rest in ("", choices[CIRCLED.index(number)]), (q["id"], q["answer"])


def test_every_question_has_typed_and_pasted_queries(
    questions: list[dict[str, Any]], queries: list[dict[str, Any]]
) -> None:
    bodies = {q["id"]: q["body"] for q in questions}
    ids = [r["_id"] for r in queries]
    assert len(set(ids)) == len(ids)
    styles: dict[str, set[str]] = {qid: set() for qid in bodies}
    for r in queries:
        assert set(r) == {"_id", "text", "question_id", "style"}, r
        assert r["question_id"] in bodies, r
        assert r["style"] in ("typed", "pasted") and r["text"].strip(), r
        assert r["text"].strip() != bodies[r["question_id"]], r
        if r["style"] == "typed":
            assert bodies[r["question_id"]] not in r["text"], r
        styles[r["question_id"]].add(r["style"])
    assert {qid: s for qid, s in styles.items() if s != {"typed", "pasted"}} == {}


def test_bank_imports_cleanly_and_a_second_import_changes_nothing(
    db: Database, questions: list[dict[str, Any]]
) -> None:
    path = BANK / "questions.jsonl"
    first = import_questions(db, path)
    assert (first.errors, first.rows_read, first.counts.inserted) == ([], len(questions), len(questions))
    second = import_questions(db, path)
    assert (second.errors, second.changes, second.counts.unchanged) == ([], 0, len(questions))
    with db.session() as s:
        q = s.scalars(select(Question).where(Question.external_id == "ko-060")).one()
        assert (q.source, q.subject, q.grade, q.answer) == ("ko-math", "이차방정식", "중3", "$x=2$ 또는 $x=3$")
        assert "x^2-5x+6=0" in q.body and [c.external_id for c in q.concepts] == ["인수분해를 이용한 이차방정식의 풀이"]
