"""`jindan compare` (the same bank questions through several providers) and `jindan cost` (a month in KRW)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import typer
from rich.progress import Progress
from rich.table import Table

from jindan.cli.context import console, open_db, out, settings_from
from jindan.llm.base import LLMProvider, ProviderError


def _providers(spec: str, settings: Any) -> list[LLMProvider]:
    from jindan.llm.registry import PROVIDERS, build_provider
    from jindan.security import privacy

    parts = [p.strip() for p in spec.split(",") if p.strip()]
    unknown = [p for p in parts if p.partition(":")[0] not in PROVIDERS]
    if unknown:
        console.print(f"[red]unknown provider {unknown[0]!r}; known: {', '.join(PROVIDERS)} (name or name:model)[/red]")
        raise typer.Exit(2)
    probe = settings.model_copy(deep=True)  # the privacy guard judges these providers as if they served a route
    probe.llm.routes = {"chat": [p.partition(":")[0] for p in parts]}
    try:
        privacy.check(probe)
    except (privacy.PrivacyViolation, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    providers = []
    for part in parts:
        name, _, model = part.partition(":")
        try:
            providers.append(build_provider(name, settings, model or None))
        except ProviderError as exc:
            console.print(f"[red]{part}: {exc}[/red]")
            raise typer.Exit(2) from exc
    if not providers:
        console.print("[red]--providers names at least one provider, e.g. llamacpp,openai[/red]")
        raise typer.Exit(2)
    return providers


def _refuse_switched_off(settings: Any, db: Any, chosen: list[LLMProvider]) -> None:
    """The legacy switch holds here too: while it is off, a vendor's API is not asked, even to compare."""
    from jindan.cli.context import legacy_gate

    gate = legacy_gate(settings, db)
    for provider in chosen:
        reason = gate.refused(provider.name) if gate is not None else None
        if reason:
            console.print(f"[red]{provider.name}: {reason}[/red]")
            raise typer.Exit(2)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.0%}" if isinstance(v, float) and 0 <= v <= 1 else str(v)


def compare(
    ctx: typer.Context,
    route: str = typer.Option("hint", help="hint | explain | chat | diagnosis (the route's own prompt)."),
    providers: str = typer.Option(..., help="Comma-separated providers, each `name` or `name:model`."),
    sample: int = typer.Option(50, min=1, max=5000, help="Bank questions (with an answer key) to ask."),
    reference: str | None = typer.Option(None, help="`name/model` agreed against. Default: the last provider."),
    seed: int = typer.Option(0, help="Picks the sample; the same seed asks the same questions."),
    source: str | None = typer.Option(None, help="Only questions of this source (math, ko-math, ...)."),
    subject: str | None = typer.Option(None, help="Only questions of this subject."),
    language: str | None = typer.Option(None, help="Answer language (default: the configured one)."),
    max_tokens: int = typer.Option(256, min=8, max=4096, help="Answer tokens per request."),
    agreement: bool = typer.Option(True, help="Embed the answers for agreement with the reference."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Ask each provider the same questions: latency, TTFT, tokens/s, correctness, agreement, language, cost."""
    from jindan.reports import compare as cmp

    settings = settings_from(ctx)
    if route not in cmp.ROUTES:
        console.print(f"[red]unknown route {route!r}; compare knows {', '.join(cmp.ROUTES)}[/red]")
        raise typer.Exit(2)
    chosen = _providers(providers, settings)
    with open_db(settings) as db:
        _refuse_switched_off(settings, db, chosen)
        questions = cmp.sample_questions(db, sample, seed, source, subject)
        if not questions:
            console.print("[red]no questions with an answer key: run jindan import questions FILE first[/red]")
            raise typer.Exit(1)
        embedder = None
        if agreement:
            from jindan.cli.context import legacy_gate
            from jindan.embed.registry import build_embedder

            embedder = build_embedder(settings, legacy_gate(settings, db))

        async def go() -> int:
            try:
                with Progress(console=console, transient=True) as bar:
                    task = bar.add_task(f"compare {route}", total=len(questions) * len(chosen))
                    return await cmp.run(
                        settings,
                        db,
                        route,
                        chosen,
                        questions,
                        reference=reference,
                        language=language,
                        max_tokens=max_tokens,
                        options={"seed": seed, "source": source, "subject": subject},
                        embedder=embedder,
                        progress=lambda n: bar.advance(task, n),
                    )
            finally:
                for p in chosen:
                    await p.aclose()

        try:
            run_id = asyncio.run(go())
        except ValueError as exc:  # an unknown reference: said before anything is asked
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        summary = cmp.build(db, run_id, settings)
    summary.pop("results")
    if as_json:
        out.print_json(json.dumps(summary, ensure_ascii=False))
        return
    title = f"compare run {run_id}: route {route}, {len(questions)} questions, reference {summary['reference']}"
    table = Table(title=title)
    cols = ["provider", "failed", "p50 ms", "p95 ms", "TTFT p50", "tok/s", "correct", "leaked", "in language"]
    for col in [*cols, "JSON ok", "agreement", "KRW / 1,000"]:
        table.add_column(col)
    for p in summary["providers"]:
        table.add_row(
            p["provider"],
            str(p["failed"]),
            *(_fmt(p[k]) for k in ("total_ms_p50", "total_ms_p95", "ttft_ms_p50", "tokens_per_s_p50")),
            *(_fmt(p[k]) for k in ("correct", "leaked", "in_language", "json_valid")),
            "-" if p["agreement_p50"] is None else f"{p['agreement_p50']:.3f}",
            "-" if p["krw_per_1000"] is None else f"{p['krw_per_1000']:,.0f} ({p['cost_basis']})",
        )
    console.print(table)


def cost(
    ctx: typer.Context,
    plan: bool = typer.Option(False, "--plan", help="The migration plan's own assumptions (its 50-200만원 case)."),
    from_traffic: bool = typer.Option(False, "--from-traffic", help="Volume and tokens as the service counted them."),
    days: int = typer.Option(30, min=1, help="With --from-traffic: the days of records to read."),
    requests: float | None = typer.Option(None, min=0, help="Requests a month."),
    prompt_tokens: float = typer.Option(1200, min=0, help="Mean prompt tokens per request."),
    completion_tokens: float = typer.Option(400, min=0, help="Mean answer tokens per request."),
    model: list[str] = typer.Option([], help="API model and its share, e.g. gpt-4o-mini=0.8 (repeatable)."),
    seconds: float = typer.Option(1.0, "--seconds-per-request", min=0, help="Local generation time per request."),
    utilisation: float | None = typer.Option(None, min=0, max=1, help="Share of on-hours at full load."),
    tier: list[str] = typer.Option([], help="Machine tiers (settings cost.tiers). Default: all."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """A month in KRW: the API path against local machines (power + hardware amortised)."""
    from jindan.reports import cost as report

    settings = settings_from(ctx)
    if sum([plan, from_traffic, requests is not None]) != 1:
        console.print("[red]give one of --plan, --from-traffic or --requests N[/red]")
        raise typer.Exit(2)
    mix: dict[str, float] = {}
    for m in model:
        name, _, share = m.partition("=")
        try:
            mix[name] = float(share or 1)
        except ValueError as exc:
            console.print(f"[red]--model {m!r}: expected NAME=SHARE, e.g. gpt-4o-mini=0.8[/red]")
            raise typer.Exit(2) from exc
    tiers: list[str] | None = tier or None
    if plan:
        traffic, tiers = report.PLAN, tier or report.PLAN_TIERS
    elif from_traffic:
        with open_db(settings) as db:
            try:
                found = report.from_traffic(db, settings, days, next(iter(mix), None))
            except LookupError as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from exc
        traffic = [found]
    else:
        given = report.Traffic(
            "given", requests or 0, prompt_tokens, completion_tokens, mix or {settings.openai.model: 1.0}, seconds
        )
        traffic = [given]
    if utilisation is not None:
        traffic = [dataclasses.replace(t, utilisation=utilisation) for t in traffic]
    try:
        result = report.estimate(settings, traffic, tiers)
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        out.print_json(json.dumps(result, ensure_ascii=False))
        return
    for s in result["scenarios"]:
        t = s["traffic"]
        mix_text = ", ".join(f"{k} {v:.0%}" for k, v in t["mix"].items())
        table = Table(
            title=f"{t['name']}: {t['requests']:,.0f} requests/month, {t['prompt_tokens']:.0f}+"
            f"{t['completion_tokens']:.0f} tokens ({mix_text})"
        )
        table.add_column("path")
        table.add_column("machine")
        for col in ("power ₩", "hardware ₩/month", "total ₩/month", "saving ₩/month"):
            table.add_column(col, justify="right")
        table.add_row("API", "-", "-", "-", f"{s['api']['krw']:,}", "-")
        for row in s["local"]:
            table.add_row(
                row["tier"],
                row["machine"],
                f"{row['power_krw']:,}",
                f"{row['hardware_krw_per_month']:,}",
                f"{row['total_krw']:,}",
                f"{row['saving_krw']:,}",
            )
        console.print(table)
    if plan:
        console.print(report.plan_verdict(result))
    a = result["assumptions"]
    console.print(
        f"[dim]{a['usd_krw']:,.0f} KRW/USD, {a['krw_per_kwh']:,.0f} KRW/kWh, hardware over {a['amortise_months']} "
        f"months, machine on {a['hours_per_day']:g} h/day (settings cost.*)[/dim]"
    )
