"""Who still reaches the legacy providers, from the stored counts: answers (``llm_traffic``, with the model name
the client sent when the call came through the gateway, none for jindan's own routes) and shadow runs
(``llm_comparisons``), per day, route, provider and model; and the switch-off that waits for a quiet window."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import cast, func, literal, select
from sqlalchemy.types import Date

from jindan.db.engine import Database
from jindan.db.models import LLMComparison, LLMTraffic
from jindan.llm.legacy import LegacyState, legacy_providers, read_state, who, write_state
from jindan.settings import Settings


@dataclass(frozen=True)
class LegacyUse:
    day: date
    route: str
    provider: str
    model: str
    requests: int
    via: str  # answer | shadow
    client_model: str = ""  # the model name a gateway client sent (empty: jindan's own routes, shadow runs)

    def where(self) -> str:
        sent = f", sent as {self.client_model} through the gateway" if self.client_model else ""
        return f"{self.route} -> {self.provider}/{self.model} ({self.via}{sent})"


class StillUsed(RuntimeError):
    """Legacy traffic inside the quiet window: the switch stays on; the message says when and where."""


def today() -> date:
    return datetime.now(UTC).date()


def uses(db: Database, settings: Settings, days: int | None = None, until: date | None = None) -> list[LegacyUse]:
    """Every day with legacy traffic (the last ``days`` days up to ``until``, or all), newest first."""
    providers = legacy_providers(settings)
    since = (until or today()) - timedelta(days=days - 1) if days else None
    shadow_day = cast(LLMComparison.created_at, Date)
    answers = select(LLMTraffic.day, LLMTraffic.route, LLMTraffic.provider, LLMTraffic.model,
                     func.sum(LLMTraffic.requests), LLMTraffic.client_model).where(
                         LLMTraffic.provider.in_(providers))  # fmt: skip
    shadows = select(shadow_day, LLMComparison.route, LLMComparison.shadow_provider, LLMComparison.shadow_model,
                     func.count(), literal("")).where(LLMComparison.shadow_provider.in_(providers))  # fmt: skip
    if since is not None:
        answers, shadows = answers.where(LLMTraffic.day >= since), shadows.where(shadow_day >= since)
    answers = answers.group_by(LLMTraffic.day, LLMTraffic.route, LLMTraffic.provider, LLMTraffic.model,
                               LLMTraffic.client_model)  # fmt: skip
    shadows = shadows.group_by(shadow_day, LLMComparison.route, LLMComparison.shadow_provider,
                               LLMComparison.shadow_model)  # fmt: skip
    with db.session() as s:
        rows = [(*r, "answer") for r in s.execute(answers)] + [(*r, "shadow") for r in s.execute(shadows)]
    out = [LegacyUse(d, r, p, m, int(n), via, str(c or "")) for d, r, p, m, n, c, via in rows if n]
    return sorted(out, key=lambda u: (u.day, u.via, u.route, u.provider, u.model, u.client_model), reverse=True)


def last_day(db: Database, settings: Settings) -> date | None:
    found = uses(db, settings)
    return found[0].day if found else None


def status(db: Database, settings: Settings, days: int = 30) -> dict[str, Any]:
    """The switch, the legacy providers, routes whose every provider is legacy, and the traffic per day (with
    the model names gateway clients sent: the call sites still to move)."""
    state = read_state(db)
    last = last_day(db, settings)
    providers = legacy_providers(settings)
    from jindan.domain.routes import ROUTES

    chains = {r: list(settings.llm.routes.get(r) or [settings.llm.provider, *settings.llm.fallback]) for r in ROUTES}
    return {
        "state": "off" if state.off else "on",
        "line": state.line(),
        "changed_at": state.changed_at.isoformat() if state.changed_at else None,
        "changed_by": state.changed_by,
        "legacy_providers": list(providers),
        "routes_on_legacy": sorted(r for r, c in chains.items() if any(p in providers for p in c)),
        "routes_only_legacy": sorted(r for r, c in chains.items() if c and all(p in providers for p in c)),
        "last_legacy_day": last.isoformat() if last else None,
        "quiet_days": (today() - last).days if last else None,
        "days": days,
        "traffic": [{**asdict(u), "day": u.day.isoformat()} for u in uses(db, settings, days)],
    }


def switch_off(
    db: Database, settings: Settings, quiet_days: int, force: bool = False, by: str | None = None
) -> LegacyState:
    """Refuse the legacy providers once the last ``quiet_days`` days (today included) had no legacy traffic;
    ``force`` switches off regardless. Raises ``StillUsed`` with the last uses otherwise."""
    recent = uses(db, settings, quiet_days)
    if recent and not force:
        last = recent[0].day
        where = ", ".join(sorted({u.where() for u in recent if u.day == last}))
        raise StillUsed(
            f"legacy traffic on {last} ({where}): the last {quiet_days} days must be quiet. Move those calls "
            f"first (`jindan legacy status` lists them), wait, or switch off anyway with --force"
        )
    note = f"forced; {sum(u.requests for u in recent)} legacy requests in the window" if recent else ""
    return write_state(db, True, by or who(), note or f"quiet for {quiet_days} days")


def switch_on(db: Database, by: str | None = None) -> LegacyState:
    return write_state(db, False, by or who(), "restored")
