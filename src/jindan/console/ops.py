"""The operator page: readiness, providers and their breakers, fallbacks and latency, Ollama hosts, the
migration's runs, checks and cutovers, shadow and comparison results, today's answer checks (what students
were shown, how the model's own answers fared, failing examples), and the latest benchmarks.

Each section reads what its CLI or JSON twin reads (``readiness.check_all``, the router, the app's metrics
registry, ``reports.shadow.build``, ``reports.compare.build``) and says so plainly when there is nothing yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from jindan import hardware
from jindan.answers import log as answer_log
from jindan.api.deps import DatabaseDep, RouterDep, SettingsDep, require
from jindan.console.web import ConsoleRoute, page
from jindan.db.engine import Database
from jindan.db.models import MigrationEvent, MigrationRun
from jindan.demo import REPO_ROOT
from jindan.domain.routes import ROUTES
from jindan.jobs.index import index_status
from jindan.llm.legacy import LegacyGate, refused_embedder, stranded
from jindan.llm.router import Router
from jindan.readiness import check_all
from jindan.reports import compare, shadow
from jindan.security import privacy
from jindan.security.principal import Principal
from jindan.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
OLLAMA_TIMEOUT_S = 3.0
BENCHMARKS = REPO_ROOT / "docs" / "benchmarks.md"


def samples(registry: CollectorRegistry, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called ``name`` in the app's own registry."""
    return [(s.labels, s.value) for family in registry.collect() for s in family.samples if s.name == name]


def providers(llm: Router, registry: CollectorRegistry) -> list[dict[str, Any]]:
    """Every provider of a route's chain: its routes, breaker, attempts by outcome, fallbacks, mean TTFT."""
    names = list(dict.fromkeys(name for route in ROUTES for name in llm.chain(route)))
    attempts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in samples(registry, "jindan_llm_attempts_total"):
        attempts[labels["provider"]][labels["outcome"]] += value
    fallbacks: dict[str, float] = defaultdict(float)
    for labels, value in samples(registry, "jindan_llm_fallbacks_total"):
        fallbacks[labels["provider"]] += value
    ttft_sum: dict[str, float] = defaultdict(float)
    ttft_n: dict[str, float] = defaultdict(float)
    models: dict[str, set[str]] = defaultdict(set)
    for labels, value in samples(registry, "jindan_llm_ttft_seconds_sum"):
        ttft_sum[labels["provider"]] += value
        models[labels["provider"]].add(labels["model"])
    for labels, value in samples(registry, "jindan_llm_ttft_seconds_count"):
        ttft_n[labels["provider"]] += value
    rows = []
    for name in names:
        breaker = llm.breakers.get(name)
        rows.append(
            {
                "name": name,
                "routes": [r for r in ROUTES if name in llm.chain(r)],
                "breaker": breaker.state if breaker else "closed",
                "failures": breaker.failures if breaker else 0,
                "attempts": dict(sorted(attempts[name].items())),
                "fallbacks": int(fallbacks[name]),
                "ttft_ms": round(1000 * ttft_sum[name] / ttft_n[name]) if ttft_n[name] else None,
                "models": sorted(models[name]),
            }
        )
    return rows


def legacy_view(llm: Router) -> dict[str, Any]:
    """The legacy switch as this replica enforces it (``llm.legacy``), in the page's words."""
    gate = llm.gate
    if not isinstance(gate, LegacyGate) or not gate.state.off:
        return {"off": False}
    state = gate.state
    since = f"{state.changed_at:%Y-%m-%d %H:%M} UTC" if state.changed_at else ""
    return {"off": True, "providers": ", ".join(sorted(gate.providers)), "since": since, "by": state.changed_by,
            "stranded": ", ".join(stranded(llm, gate)), "embedder": refused_embedder(llm, gate)}  # fmt: skip


def latency(registry: CollectorRegistry) -> list[dict[str, Any]]:
    """Mean HTTP latency and request count per route template (from the request histogram)."""
    total: dict[str, float] = defaultdict(float)
    count: dict[str, float] = defaultdict(float)
    for labels, value in samples(registry, "jindan_http_request_seconds_sum"):
        total[labels["route"]] += value
    for labels, value in samples(registry, "jindan_http_request_seconds_count"):
        count[labels["route"]] += value
    busiest = sorted(((n, r) for r, n in count.items() if n), reverse=True)[:15]
    return [{"route": r, "n": int(n), "mean_ms": round(1000 * total[r] / n, 1)} for n, r in busiest]


async def ollama_models(llm: Router) -> dict[str, Any]:
    """Models on each Ollama host, when Ollama is in a chain; a host that does not answer is said so."""
    if not any("ollama" in llm.chain(r) for r in ROUTES):
        return {"configured": False}
    try:
        provider = llm.provider("ollama")
        hosts = await asyncio.wait_for(provider.list_models(), OLLAMA_TIMEOUT_S)  # type: ignore[attr-defined]
    except Exception as exc:  # unreachable, timed out, or the SDK missing: the page still renders
        return {"configured": True, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"configured": True, "hosts": hosts}


def migrations(db: Database) -> dict[str, Any]:
    with db.session() as s:
        runs = list(s.scalars(select(MigrationRun).order_by(MigrationRun.id.desc()).limit(10)))
        events = list(s.scalars(select(MigrationEvent).order_by(MigrationEvent.id.desc()).limit(30)))
        return {
            "runs": [
                {
                    "id": r.id,
                    "source": r.source,
                    "target": r.target,
                    "status": r.status,
                    "actor": r.actor,
                    "started": r.started_at,
                    "finished": r.finished_at,
                    "copied": (r.report or {}).get("copied"),
                    "error": (r.report or {}).get("error"),
                }
                for r in runs
            ],
            "verifies": [_event(e) for e in events if e.kind == "verify"][:5],
            "history": [_event(e) for e in events if e.kind != "verify"],
        }


def _event(e: MigrationEvent) -> dict[str, Any]:
    d = e.detail or {}
    return {
        "kind": e.kind,
        "target": e.target,
        "actor": e.actor,
        "at": e.at,
        "passed": d.get("passed"),
        "checks": d.get("checks", []),
        "note": d.get("error") or d.get("previous") or d.get("alias") or "",
    }


def comparison(db: Database, settings: Settings) -> dict[str, Any] | None:
    run = compare.latest(db)
    if run is None:
        return None
    report = compare.build(db, run, settings)
    report.pop("results", None)
    return report


def bars(rows: list[dict[str, Any]], label: str, *values: str) -> dict[str, Any]:
    """Data for the page's SVG bar chart: one group per row, one bar per value key, scaled to the largest."""
    top = max([float(r[v] or 0) for r in rows for v in values] or [0.0]) or 1.0
    groups = [
        {"label": str(r[label]), "bars": [{"key": v, "value": r[v], "width": float(r[v] or 0) / top} for v in values]}
        for r in rows
    ]
    return {"groups": groups, "keys": list(values)}


def answers(request: Request, db: Database) -> dict[str, Any]:
    """Today's answer checks, with what this replica counted in the last minute written first."""
    pending = getattr(request.app.state.metrics, "answer_log", None)
    if pending is not None:
        try:
            pending.flush()
        except Exception as exc:  # the page still shows what was written before
            log.warning("answer checks could not be written: %s", type(exc).__name__)
    return answer_log.summary(db, datetime.now(UTC).date())


def model_advice(settings: Settings) -> str:
    """How well the configured model writes Korean and which Korean model fits this machine (as doctor says)."""
    return _advice(settings.home, settings.llm.model, settings.ollama.num_ctx or 8192)


@lru_cache(maxsize=8)
def _advice(home: Path, model: str, n_ctx: int) -> str:  # the machine does not change under a running service
    return hardware.korean_advice(model, hardware.recommend(hardware.detect(home), n_ctx))


@router.get("/ops")
async def ops(
    request: Request, settings: SettingsDep, db: DatabaseDep, llm: RouterDep, _: Principal = require("ops.read")
) -> Response:
    statuses, migration, shadows, compared, hosts, job = await asyncio.gather(
        asyncio.to_thread(check_all, settings, db),
        asyncio.to_thread(migrations, db),
        asyncio.to_thread(shadow.build, db),
        asyncio.to_thread(comparison, db, settings),
        ollama_models(llm),
        asyncio.to_thread(index_status, settings, db),
    )
    checked = await asyncio.to_thread(answers, request, db)
    advice = await asyncio.to_thread(model_advice, settings)
    thread = getattr(request.app.state, "index_thread", None)
    registry: CollectorRegistry = request.app.state.metrics.registry
    context = {
        "settings": settings,
        "ready": all(s.ok for s in statuses),
        "statuses": statuses,
        "privacy": privacy.status(settings),
        "indexing": (thread is not None and thread.is_alive()) or (job is not None and job.running),
        "index_job": job if job is not None and job.running else None,
        "legacy": legacy_view(llm),
        "providers": providers(llm, registry),
        "latency": latency(registry),
        "ollama": hosts,
        "migration": migration,
        "shadow": shadows,
        "shadow_chart": bars(shadows, "route", "primary_total_ms_p50", "shadow_total_ms_p50"),
        "answers": checked,
        "model_advice": advice,
        "compare": compared,
        "compare_chart": bars(compared["providers"], "provider", "total_ms_p50", "ttft_ms_p50") if compared else None,
    }
    return page(request, "pages/ops.html", context)


def _benchmarks() -> str | None:
    if not BENCHMARKS.exists():
        return None
    from markdown_it import MarkdownIt

    html: str = MarkdownIt("commonmark", {"html": False}).enable("table").render(BENCHMARKS.read_text(encoding="utf-8"))
    return html


@router.get("/ops/benchmarks")
async def benchmarks(request: Request, _: Principal = require("ops.read")) -> Response:
    """The latest measured numbers (docs/benchmarks.md of this checkout), rendered without raw HTML."""
    html = await asyncio.to_thread(_benchmarks)
    return page(request, "pages/benchmarks.html", {"html": html})
