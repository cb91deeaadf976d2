"""Answer checks counted per day, route, provider, model and check, and failing examples for reviewers,
written to PostgreSQL in batches (``answer_checks``, ``answer_examples``) like the traffic counts: ``add`` on
the event loop for each judged answer, ``flush`` off it every minute and at shutdown; a flush that fails keeps
its counts for the next one. No user and no student text: examples have the student's words taken out."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from jindan.answers.gate import Checked, Example
from jindan.db.engine import Database
from jindan.db.models import AnswerCheck, AnswerExample

Key = tuple[date, str, str, str, str]  # day, route, provider, model, check
KEEP_EXAMPLES = 500


class AnswerLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._counts: dict[Key, list[int]] = {}
        self._examples: list[dict[str, Any]] = []

    def add(self, route: str, result: Checked, example: Example | None) -> None:
        day = datetime.now(UTC).date()
        base = (day, route[:50], result.provider[:50], result.model[:200])
        with self._lock:
            self._count((*base, "answer"), not result.passed)
            if result.model_passed is not None:
                self._count((*base, "model"), not result.model_passed)
                for v in result.model_checks:
                    self._count((*base, v.check[:50]), not v.passed)
            if example is not None:
                self._examples.append(
                    {
                        "route": base[1],
                        "provider": base[2],
                        "model": base[3],
                        "question_id": example.question_id,
                        "check": example.check[:50],
                        "reason": example.reason[:500],
                        "text": example.text,
                    }
                )
                del self._examples[:-KEEP_EXAMPLES]

    def _count(self, key: Key, failed: bool, n: tuple[int, int] | None = None) -> None:
        row = self._counts.setdefault(key, [0, 0])
        total, bad = n if n is not None else (1, int(failed))
        row[0] += total
        row[1] += bad

    def flush(self) -> int:
        """Write what was counted since the last flush; returns the rows written."""
        with self._lock:
            counts, self._counts = self._counts, {}
            examples, self._examples = self._examples, []
        if not counts and not examples:
            return 0
        try:
            with self.db.session() as s:
                if counts:
                    rows = [
                        {
                            "day": k[0],
                            "route": k[1],
                            "provider": k[2],
                            "model": k[3],
                            "check": k[4],
                            "total": t,
                            "failed": f,
                        }
                        for k, (t, f) in counts.items()
                    ]
                    stmt = insert(AnswerCheck).values(rows)
                    added = {c: getattr(AnswerCheck, c) + stmt.excluded[c] for c in ("total", "failed")}
                    keys = ["day", "route", "provider", "model", "check"]
                    s.execute(stmt.on_conflict_do_update(index_elements=keys, set_=added))
                if examples:
                    s.execute(insert(AnswerExample).values(examples))
                    newest = select(func.max(AnswerExample.id)).scalar_subquery()
                    s.execute(delete(AnswerExample).where(AnswerExample.id <= newest - KEEP_EXAMPLES))
        except Exception:
            with self._lock:  # nothing is lost: the counts wait for the next flush
                for key, (t, f) in counts.items():
                    self._count(key, False, (t, f))
                self._examples[:0] = examples
                del self._examples[:-KEEP_EXAMPLES]
            raise
        return len(counts) + len(examples)


def summary(db: Database, since: date, examples: int = 5) -> dict[str, Any]:
    """Answers since ``since`` per route and model, as the operator page shows them: what students were shown
    (``presentable_rate``), how the model's own answers fared (``model_pass_rate``, each check's failure rate)
    and the latest failing examples (student text already taken out)."""
    with db.session() as s:
        counts = s.execute(
            select(
                AnswerCheck.route,
                AnswerCheck.provider,
                AnswerCheck.model,
                AnswerCheck.check,
                func.sum(AnswerCheck.total),
                func.sum(AnswerCheck.failed),
            )
            .where(AnswerCheck.day >= since)
            .group_by(AnswerCheck.route, AnswerCheck.provider, AnswerCheck.model, AnswerCheck.check)
        ).all()
        latest = list(
            s.scalars(
                select(AnswerExample).where(AnswerExample.at >= since).order_by(AnswerExample.id.desc()).limit(examples)
            )
        )
        shown = [
            {
                "route": e.route,
                "model": f"{e.provider}/{e.model}" if e.provider else "-",
                "question_id": e.question_id,
                "check": e.check,
            }
            | {"reason": e.reason, "text": e.text[:300], "at": e.at}
            for e in latest
        ]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for route, provider, model, check, total, failed in counts:
        name = f"{provider}/{model}" if provider else "-"
        row = rows.setdefault((route, name), {"route": route, "model": name})
        row.setdefault("failures", {})
        if check in ("answer", "model"):
            row[f"{check}_n"] = int(total)
            row[f"{check}_rate"] = round(1 - int(failed) / int(total), 3) if total else None
        else:
            row["failures"][check] = int(failed)
    out = []
    for row in sorted(rows.values(), key=lambda r: (r["route"], r["model"])):
        judged = row.get("model_n", 0)  # a check's failures among all the model's answers (as `rates` counts)
        failures = sorted(((k, v) for k, v in row.pop("failures").items() if v and judged), key=lambda kv: -kv[1])
        out.append(
            {
                "route": row["route"],
                "model": row["model"],
                "n": row.get("answer_n", 0),
                "presentable_rate": row.get("answer_rate"),
                "model_n": row.get("model_n", 0),
                "model_pass_rate": row.get("model_rate"),
                "failures": {k: round(v / judged, 3) for k, v in failures},
            }
        )
    return {"since": since, "routes": out, "examples": shown}
