"""`jindan cost`: what a month of the platform's AI traffic costs in KRW on the API path and on local machines.

API path: requests x mean tokens x each model's USD price (``llm.prices`` over the catalog) x ``cost.usd_krw``.
Local path, per machine of ``cost.tiers``: electricity for the hours it is on (``cost.hours_per_day``, a month
is 30 days), at load while it generates and idle otherwise (busy hours = requests x seconds per request, or a
fixed ``utilisation``), x ``cost.krw_per_kwh``; plus its purchase price spread over ``cost.amortise_months``.

The plan's own comparison ("~월 50-200만원" for the APIs against "전력비만 ~월 5-10만원") names no volume;
``PLAN`` is the volume at which its API figure holds (50,000 and 200,000 requests a month, 1,200 prompt + 400
answer tokens, nine in ten on GPT-3.5, one in ten on GPT-4) with the machine drawing full power all month, as
"electricity only" implies. Run with the plan's numbers it lands on its figures; the amortised machine is what
the plan leaves out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import LLMComparison, LLMTraffic
from jindan.llm.catalog import CATALOG, cost_usd
from jindan.settings import Settings

DAYS = 30  # a month, for every monthly figure


@dataclass(frozen=True)
class Traffic:
    """A month of requests: volume, mean tokens per request, which API models they went to, local speed."""

    name: str
    requests: float
    prompt_tokens: float
    completion_tokens: float
    mix: dict[str, float]  # API model -> share of requests (shares are normalised)
    seconds_per_request: float = 1.0  # local generation time per request
    utilisation: float | None = None  # share of the on-hours at full load; None: from volume x seconds
    source: str = "given"
    notes: list[str] = field(default_factory=list)


PLAN_MIX = {"gpt-3.5-turbo": 0.9, "gpt-4": 0.1}
PLAN = [
    Traffic("plan, low", 50_000, 1200, 400, PLAN_MIX, utilisation=1.0, source="the plan's assumptions"),
    Traffic("plan, high", 200_000, 1200, 400, PLAN_MIX, utilisation=1.0, source="the plan's assumptions"),
]
PLAN_TIERS = ["recommended", "optimal"]


def local_krw_per_second(settings: Settings, tier: str | None = None) -> float:
    """Cost of one second of generation on a machine: power at load plus its amortised price per on-hour."""
    c = settings.cost
    t = c.tiers[tier or c.tier]
    hardware_per_hour = t.hardware_krw / c.amortise_months / (c.hours_per_day * DAYS)
    return (hardware_per_hour + t.load_watts / 1000 * c.krw_per_kwh) / 3600


def api_month(settings: Settings, t: Traffic) -> dict[str, Any]:
    total = sum(t.mix.values()) or 1.0
    by_model = {}
    for model, share in t.mix.items():
        one = cost_usd(model, int(t.prompt_tokens), int(t.completion_tokens), settings.llm.prices)
        by_model[model] = round(t.requests * share / total * one, 2)
    usd = sum(by_model.values())
    return {"usd": round(usd, 2), "krw": round(usd * settings.cost.usd_krw), "usd_by_model": by_model}


def local_month(settings: Settings, t: Traffic, tier: str) -> dict[str, Any]:
    c = settings.cost
    if tier not in c.tiers:
        raise KeyError(f"unknown machine tier {tier!r}; known: {', '.join(c.tiers)} (settings cost.tiers)")
    m = c.tiers[tier]
    on_hours = c.hours_per_day * DAYS
    if t.utilisation is not None:
        busy = on_hours * t.utilisation
    else:
        busy = min(on_hours, t.requests * t.seconds_per_request / 3600)
    kwh = (m.load_watts * busy + m.idle_watts * (on_hours - busy)) / 1000
    power = kwh * c.krw_per_kwh
    hardware = m.hardware_krw / c.amortise_months
    return {
        "tier": tier,
        "machine": m.description,
        "busy_hours": round(busy, 1),
        "on_hours": round(on_hours, 1),
        "kwh": round(kwh, 1),
        "power_krw": round(power),
        "hardware_krw_per_month": round(hardware),
        "total_krw": round(power + hardware),
        "capacity_ok": t.requests * t.seconds_per_request / 3600 <= on_hours,
    }


def estimate(settings: Settings, traffic: list[Traffic], tiers: list[str] | None = None) -> dict[str, Any]:
    """Monthly KRW of the API path and of each local machine, for each traffic scenario."""
    c = settings.cost
    names = tiers or list(c.tiers)
    scenarios = []
    for t in traffic:
        api = api_month(settings, t)
        local = [local_month(settings, t, n) for n in names]
        for row in local:
            row["saving_krw"] = api["krw"] - row["total_krw"]
            row["saving_power_only_krw"] = api["krw"] - row["power_krw"]
        scenarios.append({"traffic": asdict(t), "api": api, "local": local})
    return {
        "assumptions": {
            "usd_krw": c.usd_krw,
            "krw_per_kwh": c.krw_per_kwh,
            "amortise_months": c.amortise_months,
            "hours_per_day": c.hours_per_day,
            "days_per_month": DAYS,
            "prices_usd_per_1m": {m: _price(settings, m) for t in traffic for m in t.mix},
            "tiers": {n: c.tiers[n].model_dump() for n in names},
        },
        "scenarios": scenarios,
    }


def _price(settings: Settings, model: str) -> tuple[float, float]:
    if model in settings.llm.prices:
        return settings.llm.prices[model]
    info = CATALOG.get(model)
    return (info.price_in, info.price_out) if info else (0.0, 0.0)


def from_traffic(db: Database, settings: Settings, days: int = 30, api_model: str | None = None) -> Traffic:
    """A month of traffic from what the service recorded in the last ``days`` days.

    The volume is every answer the service gave (``llm_traffic``, all routes) when it has been counting;
    otherwise the shadow records scaled by their sample rate (``llm.shadow[route].sample``). Tokens are what
    the API would bill where shadow records have the API's own counts, else the local model's counts; the local
    speed is the local providers' mean answer time (else the shadow records' median).
    """
    since = datetime.now(UTC) - timedelta(days=days)
    with db.session() as s:
        rows = list(s.scalars(select(LLMComparison).where(LLMComparison.created_at >= since)))
        counted = list(s.scalars(select(LLMTraffic).where(LLMTraffic.day >= since.date())))
    shadow = settings.llm.shadow
    used = [r for r in rows if r.route in shadow and shadow[r.route].sample > 0]
    if counted:
        return _counted(counted, used, settings, days, api_model)
    if not used:
        raise LookupError(
            f"no answers recorded and no shadow records of configured routes in the last {days} days: serve "
            "traffic with `jindan serve`, configure JINDAN_LLM__SHADOW, or give the volume (--requests)"
        )
    requests = sum(1 / shadow[r.route].sample for r in used) * DAYS / days
    mix, prompt, completion, seconds = _shadowed(used, settings, api_model)
    return Traffic(
        f"recorded, last {days} days",
        round(requests),
        prompt,
        completion,
        mix,
        seconds_per_request=seconds[len(seconds) // 2] if seconds else 1.0,
        source=f"{len(used)} shadow records scaled by their sample rate",
        notes=["routes without shadow runs are not counted"],
    )


def _shadowed(
    used: list[LLMComparison], settings: Settings, api_model: str | None
) -> tuple[dict[str, float], float, float, list[float]]:
    """API model mix, mean prompt and completion tokens (the API's own counts where it billed), local seconds."""
    shadow = settings.llm.shadow
    mix: dict[str, float] = {}
    prompt = completion = 0.0
    seconds: list[float] = []
    for r in used:
        weight = 1 / shadow[r.route].sample
        api_side = r.shadow_usage if r.shadow_usage and _price(settings, r.shadow_model) != (0.0, 0.0) else None
        usage = api_side or r.primary_usage
        model = r.shadow_model if api_side else (api_model or settings.openai.model)
        mix[model] = mix.get(model, 0.0) + weight
        prompt += usage.get("prompt_tokens", 0) * weight
        completion += usage.get("completion_tokens", 0) * weight
        if r.primary_provider in ("llamacpp", "ollama"):
            seconds.append(r.primary_usage.get("total_ms", 0) / 1000)
    total = sum(mix.values())
    seconds.sort()
    return (
        {m: round(w / total, 3) for m, w in mix.items()},
        round(prompt / total, 1),
        round(completion / total, 1),
        seconds,
    )


def _counted(
    counted: list[LLMTraffic], used: list[LLMComparison], settings: Settings, days: int, api_model: str | None
) -> Traffic:
    answers = sum(r.requests for r in counted)
    local = [r for r in counted if r.provider in ("llamacpp", "ollama")]
    local_answers = sum(r.requests for r in local)
    seconds = sum(r.seconds for r in local) / local_answers if local_answers else 1.0
    notes = ["every route the service answered is counted"]
    if used:  # what the API would bill: its own token counts and models, from the shadow runs
        mix, prompt, completion, _ = _shadowed(used, settings, api_model)
        notes.append(f"tokens and models from {len(used)} shadow records (the API's own counts)")
    else:
        mix = {api_model or settings.openai.model: 1.0}
        prompt = round(sum(r.prompt_tokens for r in counted) / answers, 1)
        completion = round(sum(r.completion_tokens for r in counted) / answers, 1)
        notes.append("tokens as the local models counted them (an API's tokenizer counts Korean text differently)")
    return Traffic(
        f"recorded, last {days} days",
        round(answers * DAYS / days),
        prompt,
        completion,
        mix,
        seconds_per_request=round(seconds, 3),
        source=f"{answers} answers counted by the service",
        notes=notes,
    )


def _man(krw: float) -> str:
    return f"{krw / 10_000:,.1f}만원"


def plan_verdict(result: dict[str, Any]) -> str:
    """The plan's claim next to what its own assumptions give (and what it leaves out)."""
    api = [s["api"]["krw"] for s in result["scenarios"]]
    power = [row["power_krw"] for s in result["scenarios"] for row in s["local"]]
    total = [row["total_krw"] for s in result["scenarios"] for row in s["local"]]
    return (
        f"The plan: APIs ~월 50-200만원, local electricity only ~월 5-10만원. Its assumptions give: APIs "
        f"{_man(min(api))}-{_man(max(api))}, electricity {_man(min(power))}-{_man(max(power))} a month; with the "
        f"machine's price spread over the months, local costs {_man(min(total))}-{_man(max(total))} a month."
    )
