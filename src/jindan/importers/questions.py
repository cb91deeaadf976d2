"""Import questions from JSONL or CSV into the bank, idempotently.

Field mapping (first matching column wins; override with ``--map field=column``):

=============  ==============================================  ==========================================
field          columns recognised                              notes
=============  ==============================================  ==========================================
external_id    id, _id, question_id, qid                       required; unique within a source
body           body, problem, question, text, content          required; at most 50,000 characters
subject        subject, topic, category
level          level, grade_level                              integer 0-100 (MATH: 1-5)
grade          grade, school_grade                             free text (e.g. "중2")
difficulty     difficulty                                      number
choices        choices, options                                JSON list, or "a|b|c" in CSV
answer         answer, correct_answer
explanation    explanation, solution, rationale
concepts       concepts, concept_ids, skills, tags             JSON list, or "a|b" in CSV; default: subject
source         source                                          default: --source, else the file's folder
=============  ==============================================  ==========================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jindan.db.engine import Database
from jindan.db.repositories import QuestionRepository
from jindan.domain.questions import QuestionIn
from jindan.importers.reader import (
    ImportReport,
    Progress,
    RowError,
    detect_format,
    read_rows,
    write_isolating,
)

ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("id", "_id", "question_id", "qid"),
    "body": ("body", "problem", "question", "text", "content"),
    "subject": ("subject", "topic", "category"),
    "level": ("level", "grade_level"),
    "grade": ("grade", "school_grade"),
    "difficulty": ("difficulty",),
    "choices": ("choices", "options"),
    "answer": ("answer", "correct_answer"),
    "explanation": ("explanation", "solution", "rationale"),
    "concepts": ("concepts", "concept_ids", "skills", "tags"),
    "source": ("source",),
}
LIST_FIELDS = ("choices", "concepts")
BATCH = 500


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``["body=question_text"]`` -> ``{"body": "question_text"}``, refusing unknown fields."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        field = field.strip()
        if not sep or not column.strip():
            raise ValueError(f"--map expects FIELD=COLUMN, got {pair!r}")
        if field not in ALIASES:
            raise ValueError(f"--map: unknown field {field!r}; known: {', '.join(ALIASES)}")
        mapping[field] = column.strip()
    return mapping


def _as_list(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            parsed = json.loads(s)
            if not isinstance(parsed, list):
                raise ValueError("expected a JSON list")
            return [str(v) for v in parsed]
        return [p.strip() for p in s.split("|") if p.strip()]
    raise ValueError(f"expected a list, got {type(value).__name__}")


def to_question(row: dict[str, Any], mapping: dict[str, str], default_source: str) -> QuestionIn:
    """Map one raw row onto ``QuestionIn``; raises ValueError / ValidationError with the reason."""
    data: dict[str, Any] = {}
    for field, aliases in ALIASES.items():
        cols = (mapping[field],) if field in mapping else aliases
        for col in cols:
            if col in row and row[col] not in (None, ""):
                data[field] = row[col]
                break
    for field in LIST_FIELDS:
        if field in data:
            data[field] = _as_list(data[field])
    if "external_id" in data and isinstance(data["external_id"], int | float):
        data["external_id"] = str(data["external_id"])
    for field in ("answer", "grade"):
        if isinstance(data.get(field), int | float):
            data[field] = str(data[field])
    data.setdefault("source", default_source)
    if not data.get("concepts") and data.get("subject"):
        data["concepts"] = [data["subject"]]
    return QuestionIn.model_validate(data)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())
    return str(exc)


def import_questions(
    db: Database,
    path: Path,
    *,
    source: str | None = None,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    progress: Progress | None = None,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Load ``path`` into the bank: each batch in one transaction, bad rows reported and skipped."""
    fmt = detect_format(path, fmt)
    default_source = source or path.parent.name or path.stem
    report = ImportReport(file=str(path))
    seen: dict[tuple[str, str], int] = {}
    batch: list[QuestionIn] = []
    lines: list[int] = []
    for lineno, row in read_rows(path, fmt, progress):
        if isinstance(row, RowError):
            report.errors.append(row)
            continue
        report.rows_read += 1
        try:
            q = to_question(row, mapping or {}, default_source)
        except (ValidationError, ValueError) as exc:
            report.errors.append(RowError(lineno, _reason(exc)))
            continue
        key = (q.source, q.external_id)
        if key in seen:
            report.errors.append(RowError(lineno, f"duplicate id {q.external_id!r} (first on line {seen[key]})"))
            continue
        seen[key] = lineno
        batch.append(q)
        lines.append(lineno)
        if len(batch) >= BATCH:
            _flush(db, batch, lines, report)
            if on_batch:
                on_batch(report)
            batch, lines = [], []
    _flush(db, batch, lines, report)
    return report


def _flush(db: Database, batch: list[QuestionIn], lines: list[int], report: ImportReport) -> None:
    def write(items: list[QuestionIn]) -> None:
        with db.session() as s:
            counts = QuestionRepository(s).upsert(items)
        report.counts.add(counts)  # only once the transaction committed

    write_isolating(batch, lines, write, report)
