"""Shadow comparison report: per route, the primary against its shadow (latency, tokens, cost, agreement)."""

from __future__ import annotations

import difflib
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from jindan.bench.stats import pct
from jindan.db.engine import Database
from jindan.db.models import LLMComparison


def similarity(a: str, b: str) -> float:
    """0..1 character-level agreement of two answers (cheap, language-independent; Korean included)."""
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() if a and b else 0.0


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
        ok = [r for r in items if r.shadow_usage]
        report.append(
            {
                "route": rt,
                "primary": primary,
                "shadow": shadow,
                "n": len(items),
                "shadow_errors": len(items) - len(ok),
                "primary_ttft_ms_p50": round(pct([r.primary_usage["ttft_ms"] for r in items], 50), 1),
                "primary_total_ms_p50": round(pct([r.primary_usage["total_ms"] for r in items], 50), 1),
                "shadow_ttft_ms_p50": round(pct([r.shadow_usage["ttft_ms"] for r in ok if r.shadow_usage], 50), 1),
                "shadow_total_ms_p50": round(pct([r.shadow_usage["total_ms"] for r in ok if r.shadow_usage], 50), 1),
                "primary_tokens": sum(r.primary_usage["completion_tokens"] for r in items),
                "shadow_tokens": sum(r.shadow_usage["completion_tokens"] for r in ok if r.shadow_usage),
                "primary_cost_usd": round(sum(r.primary_cost_usd for r in items), 6),
                "shadow_cost_usd": round(sum(r.shadow_cost_usd for r in items), 6),
                "agreement_p50": round(pct([similarity(r.primary_text, r.shadow_text or "") for r in ok], 50), 3),
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
    ax.bar([i + 0.2 for i in x], [r["shadow_total_ms_p50"] for r in report], 0.4, label="shadow")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("answer time p50 (ms)")
    ax.set_title("Shadow comparison")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
