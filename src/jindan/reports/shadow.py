"""Shadow comparison report: per route, the primary against its shadow (latency, tokens, cost, agreement).

A pair is compared only when both answers are complete: a shadow that failed, timed out, was cut by its server
or answered nothing is a *failed comparison*, counted by reason and left out of latency and agreement (an
empty answer agreeing 0.00 with the primary would read as a bad model, not a broken run).
"""

from __future__ import annotations

import difflib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jindan.bench.stats import pct
from jindan.db.engine import Database
from jindan.db.models import LLMComparison


def similarity(a: str, b: str) -> float:
    """0..1 character-level agreement of two answers (cheap, language-independent; Korean included)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() if a and b else 0.0


def failure(row: LLMComparison) -> str | None:
    """Why this pair cannot be compared (empty | cut | timeout | error | primary-empty), or None when it can."""
    error = row.shadow_error or ""
    if error.startswith("EmptyAnswer") or (not error and not (row.shadow_text or "").strip()):
        return "empty"
    if "without a finish reason" in error:
        return "cut"
    if error.startswith("TimeoutError"):
        return "timeout"
    if error or row.shadow_usage is None:
        return "error"
    if not row.primary_text.strip():
        return "primary-empty"
    return None


def _p50(values: list[float]) -> float | None:
    return round(pct(values, 50), 1) if values else None


def build(db: Database, route: str | None = None) -> list[dict[str, Any]]:
    with db.session() as s:
        q = select(LLMComparison)
        if route:
            q = q.where(LLMComparison.route == route)
        rows = list(s.scalars(q))
    groups: dict[tuple[str, str, str], list[LLMComparison]] = defaultdict(list)
    for r in rows:
        groups[(r.route, f"{r.primary_provider}/{r.primary_model}", f"{r.shadow_provider}/{r.shadow_model}")].append(r)
    report = []
    for (rt, primary, shadow), items in sorted(groups.items()):
        reasons = Counter(f for f in map(failure, items) if f)
        ok = [r for r in items if failure(r) is None]
        agreement = [similarity(r.primary_text, r.shadow_text or "") for r in ok]
        report.append(
            {
                "route": rt,
                "primary": primary,
                "shadow": shadow,
                "n": len(items),
                "compared": len(ok),
                "failed": len(items) - len(ok),
                "failed_by_reason": dict(sorted(reasons.items())),
                "last_error": next((r.shadow_error for r in reversed(items) if r.shadow_error), None),
                "primary_ttft_ms_p50": round(pct([r.primary_usage["ttft_ms"] for r in items], 50), 1),
                "primary_total_ms_p50": round(pct([r.primary_usage["total_ms"] for r in items], 50), 1),
                "shadow_ttft_ms_p50": _p50([r.shadow_usage["ttft_ms"] for r in ok if r.shadow_usage]),
                "shadow_total_ms_p50": _p50([r.shadow_usage["total_ms"] for r in ok if r.shadow_usage]),
                "primary_tokens": sum(r.primary_usage["completion_tokens"] for r in items),
                "shadow_tokens": sum(r.shadow_usage["completion_tokens"] for r in ok if r.shadow_usage),
                "primary_cost_usd": round(sum(r.primary_cost_usd for r in items), 6),
                "shadow_cost_usd": round(sum(r.shadow_cost_usd for r in items), 6),
                "agreement_p50": round(pct(agreement, 50), 3) if agreement else None,
            }
        )
    return report


def plot(report: list[dict[str, Any]], path: Path) -> Path:
    """Latency p50 of primary vs shadow per route, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['route']}\n{r['primary']} vs {r['shadow']}" for r in report]
    x = range(len(report))
    fig, ax = plt.subplots(figsize=(max(6, 2.5 * len(report)), 4))
    ax.bar([i - 0.2 for i in x], [r["primary_total_ms_p50"] for r in report], 0.4, label="primary")
    ax.bar([i + 0.2 for i in x], [r["shadow_total_ms_p50"] or 0 for r in report], 0.4, label="shadow (complete)")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("answer time p50 (ms)")
    ax.set_title("Shadow comparison")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
