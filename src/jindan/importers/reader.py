"""Row readers that keep line numbers and never let one bad line stop the good ones."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from jindan.db.repositories import UpsertCounts

MAX_LINE_BYTES = 1_000_000
T = TypeVar("T")

Progress = Callable[[int], None]
"""Called with the number of bytes consumed since the last call (drives a progress bar)."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did: per-row counts and every rejected row with its line number and reason."""

    file: str
    counts: UpsertCounts = field(default_factory=UpsertCounts)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    detail: dict[str, int] = field(default_factory=dict)

    @property
    def changes(self) -> int:
        return self.counts.changed


class FileFormatError(ValueError):
    """The file as a whole cannot be read (unknown format, missing header)."""


def detect_format(path: Path, fmt: str | None) -> str:
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if fmt in ("csv", "tsv"):
        return fmt
    raise FileFormatError(f"{path}: unknown format {fmt!r}; use .jsonl or .csv, or pass --format jsonl|csv|tsv")


def read_rows(
    path: Path, fmt: str, progress: Progress | None = None
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (line number, row dict or RowError). Line numbers are 1-based physical lines."""
    if fmt == "jsonl":
        yield from _read_jsonl(path, progress)
    else:
        yield from _read_csv(path, "\t" if fmt == "tsv" else ",", progress)


def _read_jsonl(path: Path, progress: Progress | None) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if progress:
                progress(len(raw))
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE_BYTES:
                yield lineno, RowError(lineno, f"line is {len(raw):,} bytes; the limit is {MAX_LINE_BYTES:,}")
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield lineno, RowError(lineno, f"invalid JSON: {exc}")
                continue
            if not isinstance(obj, dict):
                yield lineno, RowError(lineno, f"expected a JSON object, got {type(obj).__name__}")
                continue
            yield lineno, obj


def _read_csv(path: Path, delimiter: str, progress: Progress | None) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileFormatError(f"{path}: cannot read the CSV header: {exc}") from exc
        header = [h.strip().lstrip("\ufeff") for h in header]
        last_line = reader.line_num
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                yield reader.line_num, RowError(reader.line_num, f"malformed CSV: {exc}")
                continue
            start = last_line + 1
            if progress:
                progress(sum(len(v) + 1 for v in values))
            last_line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if sum(len(v) for v in values) > MAX_LINE_BYTES:
                yield start, RowError(start, f"row is larger than {MAX_LINE_BYTES:,} bytes")
                continue
            if len(values) != len(header):
                yield start, RowError(start, f"expected {len(header)} columns, found {len(values)}")
                continue
            yield start, dict(zip(header, values, strict=True))


def db_error_reason(exc: Exception) -> str:
    """The database's own words for a refused row, short enough for a report line."""
    orig = getattr(exc, "orig", None)
    return f"database refused the row: {str(orig or exc).strip()[:300]}"


def write_isolating(items: list[T], lines: list[int], write: Callable[[list[T]], None], report: ImportReport) -> None:
    """Write a batch in one transaction; if the database refuses it, retry row by row so only the
    offending rows are rejected (each with its line) and nothing is half-written."""
    if not items:
        return
    try:
        write(items)
        return
    except SQLAlchemyError:
        pass  # the batch was rolled back as a whole
    for item, lineno in zip(items, lines, strict=True):
        try:
            write([item])
        except SQLAlchemyError as exc:
            report.errors.append(RowError(lineno, db_error_reason(exc)))
