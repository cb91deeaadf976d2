from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import shared_file

from jindan.db.engine import Database
from jindan.db.models import Concept, Question
from jindan.db.repositories import QuestionRepository
from jindan.importers.questions import import_questions, parse_mapping
from jindan.importers.reader import MAX_LINE_BYTES, FileFormatError


def _jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_full_math_bank_loads_once_then_reports_no_changes(db: Database) -> None:
    path = shared_file("math/problems.jsonl")
    first = import_questions(db, path)
    assert (first.counts.inserted, first.errors, first.rows_read) == (5000, [], 5000)
    second = import_questions(db, path)
    assert second.changes == 0 and second.counts.unchanged == 5000
    with db.session() as s:
        repo = QuestionRepository(s)
        assert repo.count(source="math") == 5000
        q = s.scalars(select(Question).where(Question.external_id == "math-algebra-0")).one()
        assert q.subject == "Algebra" and q.level == 3 and q.answer == "2"
        assert q.explanation and "vertical asymptote" in q.explanation
        assert [c.external_id for c in q.concepts] == ["Algebra"]
        assert s.scalar(select(Concept.subject).where(Concept.external_id == "Algebra")) == "Algebra"


def test_gsm8k_loads_as_is(db: Database) -> None:
    report = import_questions(db, shared_file("gsm8k/problems.jsonl"))
    assert report.counts.inserted == 1319 and not report.errors
    with db.session() as s:
        q = s.scalars(select(Question).where(Question.external_id == "gsm8k-0")).one()
        assert q.source == "gsm8k" and q.body.startswith("Janet") and q.answer == "18"


def test_changed_row_updates_and_only_it(db: Database, tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "problem": f"What is {i}+1?", "subject": "Arith", "answer": str(i + 1)} for i in range(5)]
    path = _jsonl(tmp_path / "bank.jsonl", rows)
    assert import_questions(db, path).counts.inserted == 5
    with db.session() as s:
        before = s.scalars(select(Question).where(Question.external_id == "q2")).one().updated_at
    rows[2]["answer"] = "wrong"
    rows[3]["concepts"] = ["addition", "numbers"]
    report = import_questions(db, _jsonl(path, rows))
    assert (report.counts.inserted, report.counts.updated, report.counts.unchanged) == (0, 2, 3)
    with db.session() as s:
        q2 = s.scalars(select(Question).where(Question.external_id == "q2")).one()
        q3 = s.scalars(select(Question).where(Question.external_id == "q3")).one()
        assert q2.answer == "wrong" and q2.updated_at > before
        assert sorted(c.external_id for c in q3.concepts) == ["addition", "numbers"]


def test_bad_rows_are_reported_with_line_and_reason_while_good_rows_load(db: Database, tmp_path: Path) -> None:
    huge = "x" * 60_000
    rows: list[object] = [
        {"id": "ok1", "problem": "fine", "level": 2},
        "{broken json",
        {"id": "ok2", "problem": 12345},  # wrong type for the body
        {"problem": "no id"},  # missing id
        {"id": "ok1", "problem": "dup"},  # duplicate id
        {"id": "lvl", "problem": "p", "level": "three"},  # wrong type
        {"id": "big", "problem": huge},  # huge field
        "[1, 2, 3]",  # not an object
        {"id": "ok3", "question": "alias column", "options": ["a", "b"], "solution": "because"},
        {"id": "nul", "problem": "bad\u0000byte"},  # PostgreSQL refuses NUL in text: isolated at the DB
    ]
    path = _jsonl(tmp_path / "bad.jsonl", rows)
    with path.open("a") as fh:
        fh.write('{"id": "longline", "problem": "' + "y" * (MAX_LINE_BYTES + 10) + '"}\n')
    report = import_questions(db, path, source="t")
    by_line = {e.line: e.reason for e in report.errors}
    assert set(by_line) == {2, 3, 4, 5, 6, 7, 8, 10, 11}
    assert "invalid JSON" in by_line[2]
    assert "body" in by_line[3] and "string" in by_line[3]
    assert "external_id" in by_line[4] and "required" in by_line[4].lower()
    assert by_line[5] == "duplicate id 'ok1' (first on line 1)"
    assert "level" in by_line[6]
    assert "body" in by_line[7] and "at most 50000 characters" in by_line[7]
    assert "JSON object" in by_line[8]
    assert "database refused" in by_line[10]
    assert "limit" in by_line[11]
    assert report.counts.inserted == 2
    with db.session() as s:
        assert sorted(s.scalars(select(Question.external_id))) == ["ok1", "ok3"]
        ok3 = s.scalars(select(Question).where(Question.external_id == "ok3")).one()
        assert ok3.choices == ["a", "b"] and ok3.explanation == "because" and ok3.body == "alias column"


def test_csv_with_mapping_and_list_columns(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        "qid,question_text,subject,choices,concepts,level\n"
        '1,"Solve x+1=2",대수,"[""0"",""1"",""2""]",equations|linear,1\n'
        "2,두 수의 합은?,산수,,,\n"
        "3,missing column\n"
    )
    report = import_questions(db, path, mapping=parse_mapping(["body=question_text"]), source="kr")
    assert report.counts.inserted == 2
    assert [e.line for e in report.errors] == [4]
    with db.session() as s:
        q1 = s.scalars(select(Question).where(Question.external_id == "1")).one()
        q2 = s.scalars(select(Question).where(Question.external_id == "2")).one()
        assert q1.choices == ["0", "1", "2"] and q1.level == 1
        assert sorted(c.external_id for c in q1.concepts) == ["equations", "linear"]
        assert q2.body == "두 수의 합은?" and [c.external_id for c in q2.concepts] == ["산수"]


def test_mapping_and_format_errors_are_clear(tmp_path: Path, db: Database) -> None:
    with pytest.raises(ValueError, match="unknown field"):
        parse_mapping(["bogus=col"])
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        parse_mapping(["body"])
    with pytest.raises(FileFormatError, match="unknown format"):
        import_questions(db, tmp_path / "bank.xlsx")
