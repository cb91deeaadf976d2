"""`jindan report --out DIR`: one self-contained HTML page (plus its PNGs) from what jindan recorded.

``build()`` gathers the data the CLI commands print (compare runs, the monthly cost, shadow results from live
traffic, the latest vector-migration verification, benchmark JSON files); ``write()`` draws the plots, renders
``templates/report.html`` and embeds everything: PNGs as ``data:`` URIs and the Korean font as a subset
``@font-face``, so the page fetches nothing when it opens (its Content-Security-Policy forbids it).
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from jindan.db.engine import Database
from jindan.db.models import CompareRun, MigrationEvent
from jindan.reports import compare, cost, plots, shadow
from jindan.settings import Settings

TEMPLATES = Path(__file__).with_name("templates")


def latest_runs(db: Database) -> list[int]:
    """The newest finished compare run of each route."""
    with db.session() as s:
        q = select(func.max(CompareRun.id)).where(CompareRun.status == "done").group_by(CompareRun.route)
        return sorted(i for i in s.scalars(q) if i is not None)


def _verification(db: Database) -> dict[str, Any] | None:
    with db.session() as s:
        q = select(MigrationEvent).where(MigrationEvent.kind == "verify").order_by(MigrationEvent.id.desc()).limit(1)
        e = s.scalar(q)
        return None if e is None else {"at": e.at.isoformat(timespec="seconds"), "actor": e.actor, **e.detail}


def _flat(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [row for k, v in data.items() for row in _flat(v, f"{prefix}{k}.")]
    if isinstance(data, list):
        return [(prefix.rstrip("."), f"[{len(data)} items]")]
    return [(prefix.rstrip("."), data)]


def _benchmarks(paths: list[Path]) -> list[dict[str, Any]]:
    """Each benchmark JSON file (as `jindan bench ... --json` prints it), flattened to key/value rows."""
    files = sorted({f for p in paths for f in (sorted(p.glob("*.json")) if p.is_dir() else [p]) if f.exists()})
    out: list[dict[str, Any]] = []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError) as exc:
            out.append({"name": f.name, "error": f"not readable JSON: {exc}", "rows": []})
            continue
        modified = datetime.fromtimestamp(f.stat().st_mtime, UTC).date().isoformat()
        out.append({"name": f.name, "modified": modified, "rows": _flat(data)[:60]})
    return out


def build(
    db: Database, settings: Settings, *, runs: list[int] | None = None, bench: list[Path] | None = None
) -> dict[str, Any]:
    """Everything the page shows, as plain data (JSON-ready)."""
    runs = runs if runs is not None else latest_runs(db)
    try:
        traffic, tiers = [cost.from_traffic(db, settings)], None
        cost_note = "recorded traffic (shadow runs scaled by their sample rate)"
    except LookupError:
        traffic, tiers = cost.PLAN, cost.PLAN_TIERS
        cost_note = "the migration plan's assumptions (no recorded traffic yet)"
    monthly = cost.estimate(settings, traffic, tiers)
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": settings.profile,
        "primary": f"{settings.llm.provider}/{settings.llm.model}",
        "compare": [compare.build(db, run_id, settings) for run_id in runs],
        "cost": {**monthly, "note": cost_note, "verdict": cost.plan_verdict(monthly) if traffic is cost.PLAN else None},
        "shadow": shadow.build(db),
        "verification": _verification(db),
        "benchmarks": _benchmarks(bench if bench is not None else [settings.home / "bench"]),
    }


def _uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def draw(report: dict[str, Any], out: Path) -> dict[str, list[dict[str, str]]]:
    """The PNGs of every section, written to ``out``: {section: [{file, uri, alt}]}."""
    figs: dict[str, list[dict[str, str]]] = {}

    def add(section: str, path: Path, alt: str) -> None:
        figs.setdefault(section, []).append({"file": path.name, "uri": _uri(path), "alt": alt})

    for run in report["compare"]:
        key, rid = f"compare-{run['run']}", run["run"]
        by: dict[str, list[dict[str, Any]]] = {p["provider"]: [] for p in run["providers"]}
        for r in run["results"]:
            if not r["error"]:
                by.setdefault(r["provider"], []).append(r)
        for field, title, unit in (
            ("total_ms", "응답 시간 분포 (answer time)", "ms"),
            ("ttft_ms", "첫 토큰까지 (time to first token)", "ms"),
        ):
            data = {n: [r[field] for r in rows if r[field] is not None] for n, rows in by.items()}
            add(key, plots.distribution(data, title, unit, out / f"run{rid}-{field}.png"), title)
        speed = {p["provider"]: p["tokens_per_s_p50"] for p in run["providers"]}
        title = "생성 속도 p50 (tokens/s)"
        add(key, plots.bars(speed, title, "tokens/s", out / f"run{rid}-speed.png", "{:,.1f}"), title)
        quality = {
            p["provider"]: {
                "정답률 correct": p["correct"],
                "힌트 누설 leaked": p["leaked"],
                "요청 언어 in language": p["in_language"],
                "JSON 유효 valid": p["json_valid"],
                "답변 검사 통과 checks passed": p.get("checks_passed"),
                "일치도 agreement": p["agreement_p50"],
            }
            for p in run["providers"]
        }
        add(key, plots.shares(quality, "품질 (quality, share of answers)", out / f"run{rid}-quality.png"), "quality")
        money = {p["provider"]: p["krw_per_1000"] for p in run["providers"]}
        title = "요청 1,000건당 비용 (KRW per 1,000 requests)"
        add(key, plots.bars(money, title, "₩", out / f"run{rid}-cost.png"), title)
    for s in report["cost"]["scenarios"]:
        name = s["traffic"]["name"]
        values: dict[str, float | None] = {"API": float(s["api"]["krw"])}
        values.update({f"{r['tier']} (로컬)": float(r["total_krw"]) for r in s["local"]})
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        add("cost", plots.bars(values, f"월 비용 (monthly KRW): {name}", "₩ / month", out / f"cost-{slug}.png"), name)
    if report["shadow"]:
        add("shadow", shadow.plot(report["shadow"], out / "shadow.png"), "shadow")
    return figs


def font_face(text: str) -> str:
    """NanumGothic cut down to the characters on the page (a few KB instead of 2 MB), as a data URI."""
    from fontTools import subset  # type: ignore[import-untyped]  # matplotlib's own dependency

    options = subset.Options()
    options.flavor = "woff"
    options.drop_tables += ["TSI0", "TSI1", "TSI2", "TSI3", "TSI5"]  # hinting sources: not needed to draw
    font = subset.load_font(str(plots.korean_font()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(set(text))))
    subsetter.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, options)
    data = base64.b64encode(buf.getvalue()).decode()
    return f"@font-face {{ font-family: 'NanumGothic'; src: url(data:font/woff;base64,{data}) format('woff'); }}"


def render(report: dict[str, Any], figs: dict[str, list[dict[str, str]]], font_css: str) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["num"] = lambda v, fmt="{:,.1f}": "–" if v is None else fmt.format(v)
    env.filters["share"] = lambda v: "–" if v is None else f"{v:.0%}"
    return env.get_template("report.html").render(r=report, figs=figs, font_css=font_css)


def write(report: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    figs = draw(report, out)
    plain = render(report, figs, "")
    text = re.sub(r"<[^>]+>|data:[^\"')]+", " ", plain)  # the visible text, without tags and embedded data
    page = out / "report.html"
    page.write_text(render(report, figs, font_face(text)), encoding="utf-8")
    return page
