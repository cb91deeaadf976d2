"""Import student response logs in the pyKT CSV layout (one row per student, responses in time order).

Columns: ``uid`` (student), ``concepts`` (comma list of concept indexes, one per response), ``responses``
(comma list of 0/1, same length), optional ``usetimes`` (ms per response) and ``fold`` (ignored here).
Each student becomes a user ``<source>:<uid>`` with one attempt holding the ordered responses; each concept
index becomes a concept ``<source>:<idx>``, named after the original skill id when a ``keyid2idx.json``
sits beside the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jindan.db.engine import Database
from jindan.db.repositories import ConceptRepository, ResponseLog, ResponseRepository
from jindan.importers.reader import (
    ImportReport,
    Progress,
    RowError,
    detect_format,
    read_rows,
    write_isolating,
)

BATCH = 500
MAX_RESPONSES = 100_000


@dataclass(frozen=True)
class _Row:
    line: int
    log: ResponseLog


def _ints(value: Any, name: str) -> list[int]:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} is empty")
    try:
        return [int(v) for v in value.split(",")]
    except ValueError as exc:
        raise ValueError(f"{name} must be a comma list of integers ({exc})") from exc


def parse_log(row: dict[str, Any], source: str) -> ResponseLog:
    for col in ("uid", "concepts", "responses"):
        if col not in row:
            raise ValueError(f"missing column {col!r}")
    uid = str(row["uid"]).strip()
    if not uid or len(uid) > 150:
        raise ValueError("uid is empty or longer than 150 characters")
    concepts = _ints(row["concepts"], "concepts")
    outcomes = _ints(row["responses"], "responses")
    if len(concepts) != len(outcomes):
        raise ValueError(f"concepts has {len(concepts)} items but responses has {len(outcomes)}")
    if len(outcomes) > MAX_RESPONSES:
        raise ValueError(f"{len(outcomes):,} responses; the limit per student is {MAX_RESPONSES:,}")
    if any(o not in (0, 1) for o in outcomes):
        raise ValueError("responses must be 0 or 1")
    if any(c < 0 for c in concepts):
        raise ValueError("concept indexes must be >= 0 (pyKT pads with -1; strip padding first)")
    times: list[int | None] | None = None
    if row.get("usetimes"):
        raw = _ints(row["usetimes"], "usetimes")
        if len(raw) != len(outcomes):
            raise ValueError("usetimes has a different length than responses")
        times = [t if t >= 0 else None for t in raw]
    return ResponseLog(
        user_external_id=f"{source}:{uid}",
        concepts=[f"{source}:{c}" for c in concepts],
        correct=[o == 1 for o in outcomes],
        time_taken_ms=times,
    )


def _concept_names(path: Path) -> dict[int, str]:
    """Original skill ids from a pyKT keyid2idx.json beside the file, if present."""
    mapping = path.with_name("keyid2idx.json")
    if not mapping.exists():
        return {}
    try:
        data = json.loads(mapping.read_text())
        return {int(idx): f"skill {key}" for key, idx in data.get("concepts", {}).items()}
    except (ValueError, AttributeError):
        return {}


def import_responses(
    db: Database, path: Path, *, source: str | None = None, progress: Progress | None = None
) -> ImportReport:
    """Load every student's log; a student's log is written whole or not at all."""
    fmt = detect_format(path, None if path.suffix in (".csv", ".tsv") else "csv")
    source = source or path.parent.name or "responses"
    names = _concept_names(path)
    report = ImportReport(file=str(path), detail={"responses_written": 0})
    seen: dict[str, int] = {}
    batch: list[_Row] = []
    for lineno, row in read_rows(path, fmt, progress):
        if isinstance(row, RowError):
            report.errors.append(row)
            continue
        report.rows_read += 1
        try:
            log = parse_log(row, source)
        except ValueError as exc:
            report.errors.append(RowError(lineno, str(exc)))
            continue
        if log.user_external_id in seen:
            report.errors.append(
                RowError(lineno, f"duplicate uid {row['uid']!r} (first on line {seen[log.user_external_id]})")
            )
            continue
        seen[log.user_external_id] = lineno
        batch.append(_Row(lineno, log))
        if len(batch) >= BATCH:
            _flush(db, batch, report, names, source)
            batch = []
    _flush(db, batch, report, names, source)
    return report


def _flush(db: Database, rows: list[_Row], report: ImportReport, names: dict[int, str], source: str) -> None:
    def write(items: list[_Row]) -> None:
        with db.session() as s:
            wanted = {c for r in items for c in r.log.concepts}
            concept_ids = ConceptRepository(s).ensure({c: (_concept_name(c, names), source) for c in wanted})
            counts, written = ResponseRepository(s).upsert_logs([r.log for r in items], concept_ids)
        report.counts.add(counts)  # only once the transaction committed
        report.detail["responses_written"] += written

    write_isolating(rows, [r.line for r in rows], write, report)


def _concept_name(external_id: str, names: dict[int, str]) -> str:
    idx = external_id.rsplit(":", 1)[1]
    return names.get(int(idx), f"skill {idx}")
