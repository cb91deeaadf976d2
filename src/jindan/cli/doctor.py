"""`jindan doctor`: this machine against the plan's tiers, the models that fit, and every component live."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import typer
from rich.table import Table

from jindan import hardware
from jindan.cli.context import console, out, settings_from
from jindan.readiness import Status, check_all
from jindan.settings import Settings


def doctor(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Detect RAM, CPU, GPU and disk; place the machine in a tier; recommend models; check components."""
    settings = settings_from(ctx)
    hw = hardware.detect(settings.home)
    tier = hardware.tier(hw)
    n_ctx = settings.ollama.num_ctx or 8192
    fits = hardware.recommend(hw, n_ctx)
    statuses = _components(settings)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "hardware": dataclasses.asdict(hw),
                    "tier": tier.name if tier else None,
                    "models": [
                        {
                            "model": f.model.name,
                            "need_gb": round(f.need_gb, 2),
                            "where": f.where,
                            "note": f.note,
                            "pull": f.model.pull,
                            "korean": f.model.korean,
                        }
                        for f in fits
                    ],
                    "korean_answers": korean_advice(settings, fits),
                    "components": [dataclasses.asdict(s) for s in statuses],
                }
            )
        )
    else:
        _print(hw, tier, fits, statuses, n_ctx)
        console.print(f"[bold]Korean answers[/bold]: {korean_advice(settings, fits)}")
    raise typer.Exit(0 if all(s.ok for s in statuses) else 1)


def korean_advice(settings: Settings, fits: list[hardware.Fit]) -> str:
    return hardware.korean_advice(settings.llm.model, fits)


def _components(settings: Settings) -> list[Status]:
    from jindan.db.engine import Database

    db, error = None, None
    try:
        db = Database(settings)
    except Exception as exc:  # reported as the database's status, with the reason
        error = str(exc)
    try:
        statuses = check_all(settings, db)
    finally:
        if db is not None:
            db.close()
    if error:
        statuses[0] = Status("database", False, error)
    return statuses + asyncio.run(_llm_live(settings))


async def _llm_live(settings: Settings) -> list[Status]:
    """Load or reach each configured LLM for real (more than /ready's cheap checks)."""
    from jindan.llm.registry import build_provider

    results = []
    for name in dict.fromkeys([settings.llm.provider, *settings.llm.fallback]):
        try:
            provider = build_provider(name, settings)
            ok, detail = await provider.health()
            await provider.aclose()
        except Exception as exc:
            ok, detail = False, str(exc)
        results.append(Status(f"llm-live:{name}", ok, detail))
    return results


def _print(hw, tier, fits, statuses, n_ctx) -> None:  # type: ignore[no-untyped-def]
    gpu = ", ".join(f"{g.name} ({g.vram_gb:.0f} GB)" for g in hw.gpus) or "none (no nvidia-smi)"
    console.print(
        f"[bold]Machine[/bold]: {hw.cpu_model}, {hw.cores_physical} cores / {hw.cores_logical} threads, "
        f"AVX2 {'yes' if hw.avx2 else 'no'}, AVX-512 {'yes' if hw.avx512 else 'no'}"
    )
    console.print(
        f"RAM {hw.ram_gb:.1f} GB ({hw.ram_available_gb:.1f} GB free), GPU: {gpu}, disk free {hw.disk_free_gb:.0f} GB"
    )
    if tier:
        console.print(f"[green]Plan tier: {tier.name}[/green] ({tier.example})")
    else:
        console.print(
            f"[yellow]Below the plan's minimum tier ({hardware.TIERS[-1].example}): "
            "CPU-only; use the light model or an API fallback.[/yellow]"
        )
    table = Table(title=f"Models (context {n_ctx} tokens)")
    for col in ("model", "Korean", "needs", "runs on", "note", "get it"):
        table.add_column(col)
    for f in fits:
        table.add_row(
            f.model.name + (" (default)" if f.model.default else ""),
            f.model.korean,
            f"{f.need_gb:.1f} GB",
            f.where,
            f.note,
            f.model.pull if f.where != "no" else "",
        )
    console.print(table)
    checks = Table(title="Components")
    for col in ("component", "ok", "detail"):
        checks.add_column(col)
    for s in statuses:
        checks.add_row(s.component, "[green]ok[/green]" if s.ok else "[red]DOWN[/red]", s.detail)
    console.print(checks)
