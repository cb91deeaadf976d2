"""Import learning materials (JSONL: ``id``, ``title``, ``text``, optional ``concepts``, ``language``).

They land in PostgreSQL and, with the next ``jindan index questions``, in the same collection as the questions
(``kind = material``), so explanations and hints can cite a textbook passage beside similar questions.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jindan.db.engine import Database
from jindan.db.repositories import MaterialRepository
from jindan.importers.reader import ImportReport, Progress, RowError, read_rows, write_isolating

BATCH = 200


class MaterialIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1, max_length=100_000)
    concepts: list[str] = Field(default_factory=list, max_length=100)
    language: str | None = Field(None, max_length=10)

    def row(self) -> dict[str, Any]:
        content = {
            "title": self.title,
            "text": self.text,
            "concepts": sorted(set(self.concepts)),
            "language": self.language,
        }
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        return {"external_id": self.id, **content, "content_hash": digest}


def import_materials(db: Database, path: Path, *, progress: Progress | None = None) -> ImportReport:
    report = ImportReport(file=str(path))
    seen: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    lines: list[int] = []

    def write(items: list[dict[str, Any]]) -> None:
        with db.session() as s:
            counts = MaterialRepository(s).upsert(items)
        report.counts.add(counts)

    for lineno, raw in read_rows(path, "jsonl", progress):
        if isinstance(raw, RowError):
            report.errors.append(raw)
            continue
        report.rows_read += 1
        if isinstance(raw.get("id"), int):
            raw["id"] = str(raw["id"])
        try:
            m = MaterialIn.model_validate(raw)
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            report.errors.append(RowError(lineno, reason))
            continue
        if m.id in seen:
            report.errors.append(RowError(lineno, f"duplicate id {m.id!r} (first on line {seen[m.id]})"))
            continue
        seen[m.id] = lineno
        batch.append(m.row())
        lines.append(lineno)
        if len(batch) >= BATCH:
            write_isolating(batch, lines, write, report)
            batch, lines = [], []
    write_isolating(batch, lines, write, report)
    return report
