"""The legacy switch: OpenAI's and Google's own APIs, the providers the platform moves off, refused everywhere
at once, and restored as easily.

The state lives in PostgreSQL (``switches``, row ``legacy``), so every replica reads the same one: each
replica's ``LegacyGate`` re-reads it every ``REFRESH_S`` seconds off the event loop, and the router asks the
gate before each provider. A refused provider is skipped the way an open circuit is (the next provider of the
chain answers); a chain of legacy providers only fails with the reason and the command that restores them.

Legacy means the vendors' own APIs: ``gemini``, and ``openai`` unless it is pointed at a server on this
machine or the private network (vLLM, llama.cpp's server, Ollama's /v1 are OpenAI-compatible, not legacy).
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.dialects.postgresql import insert

from jindan.db.engine import Database
from jindan.db.models import SwitchRow
from jindan.settings import Settings

NAME = "legacy"
LEGACY = ("openai", "gemini")
RESTORE = "`jindan legacy on` restores them"
REFRESH_S = 5.0
log = logging.getLogger(__name__)


def legacy_providers(settings: Settings) -> tuple[str, ...]:
    """The configured providers that are a vendor's own API."""
    from jindan.security.privacy import is_private_host

    base = settings.openai.base_url or ""
    host = urlsplit(base if "//" in base else f"//{base}").hostname or ""
    local_openai = bool(host) and is_private_host(host)
    return tuple(p for p in LEGACY if not (p == "openai" and local_openai))


@dataclass(frozen=True)
class LegacyState:
    off: bool = False
    changed_at: datetime | None = None
    changed_by: str | None = None
    note: str = ""

    def line(self) -> str:
        """In words, for /ready, the console and the CLI."""
        if self.changed_at is None:
            return "on (never switched off)"
        when = f"{self.changed_at:%Y-%m-%d %H:%M} UTC by {self.changed_by}"
        return f"off since {when}; {RESTORE}" if self.off else f"on (switched back on {when})"


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:200]


def read_state(db: Database) -> LegacyState:
    with db.session() as s:
        row = s.get(SwitchRow, NAME)
        if row is None:
            return LegacyState()
        return LegacyState(row.off, row.changed_at, row.changed_by, row.note)


def write_state(db: Database, off: bool, by: str, note: str = "") -> LegacyState:
    """Switch the legacy providers off (or on) for every replica; they follow within ``REFRESH_S`` seconds."""
    values = {"name": NAME, "off": off, "changed_at": datetime.now(UTC), "changed_by": by[:200], "note": note}
    stmt = insert(SwitchRow).values(values)
    with db.session() as s:
        s.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={k: v for k, v in values.items()
                                                                              if k != "name"}))  # fmt: skip
    return read_state(db)


class LegacyGate:
    """What the router asks before each provider: refused (with the reason) or not. Reads only memory; the
    state comes from ``refresh`` (the app calls it every ``REFRESH_S`` seconds off the event loop)."""

    def __init__(self, settings: Settings, db: Database, state: LegacyState | None = None) -> None:
        self.db = db
        self.providers = frozenset(legacy_providers(settings))
        self.state = state or LegacyState()

    def refresh(self) -> LegacyState:
        """Read the shared state; when the database does not answer, the last state read holds."""
        try:
            self.state = read_state(self.db)
        except Exception as exc:
            log.warning("legacy switch not read (%s); keeping: %s", type(exc).__name__, self.state.line())
        return self.state

    def refused(self, provider: str) -> str | None:
        if not self.state.off or provider not in self.providers:
            return None
        names = ", ".join(sorted(self.providers))
        return f"legacy providers ({names}) are switched off since {self.state.changed_at:%Y-%m-%d}; {RESTORE}"


async def refresh_every(gate: LegacyGate, interval_s: float = REFRESH_S) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await asyncio.to_thread(gate.refresh)


def legacy_line(router: Any) -> str:
    """The switch as this replica enforces it, and the routes it leaves without a provider (for /ready)."""
    gate = getattr(router, "gate", None)
    if not isinstance(gate, LegacyGate):
        return "on"
    line = gate.state.line()
    if gate.state.off and (left := stranded(router, gate)):
        line += f"; routes with no other provider: {', '.join(left)}"
    if embedder := refused_embedder(router, gate):
        line += f"; embeddings ({embedder}) refused: re-index with a local embedder (jindan index questions --rebuild)"
    return line


def refused_embedder(router: Any, gate: LegacyGate) -> str | None:
    """The configured embedder when the switch refuses it (search and embeddings then answer 503)."""
    settings = getattr(router, "settings", None)
    provider = settings.embed.provider if isinstance(settings, Settings) else None
    return provider if gate.state.off and provider in gate.providers else None


def stranded(router: Any, gate: LegacyGate) -> list[str]:
    """The routes whose every provider the gate refuses (they answer 503 while the switch is off)."""
    from jindan.domain.routes import ROUTES

    return [r for r in ROUTES if all(p in gate.providers for p in router.chain(r))]


def in_use(settings: Settings) -> tuple[str, ...]:
    """The legacy providers some route chain, fallback, shadow run or the embedder of ``settings`` would call."""
    from jindan.domain.routes import ROUTES

    chains = {p for r in ROUTES for p in settings.llm.routes.get(r) or [settings.llm.provider, *settings.llm.fallback]}
    named = chains | {s.provider for s in settings.llm.shadow.values()} | {settings.embed.provider}
    return tuple(p for p in legacy_providers(settings) if p in named)


def read_once(settings: Settings, db: Database | None = None) -> tuple[LegacyGate | None, str | None]:
    """The switch for a process without the service's refresh loop (a CLI command), read once: from ``db``, else
    from the configured database when a legacy provider is in use. Returns the gate (None: nothing to enforce)
    and, when the switch could not be read, a line saying so: the legacy providers are then allowed, as a
    replica that never read the switch allows them."""
    if db is not None:
        gate = LegacyGate(settings, db)
        gate.refresh()
        return gate, None
    used = in_use(settings)
    if not used:
        return None, None
    unread = f"the legacy switch was not read: legacy providers ({', '.join(used)}) stay allowed for this command"
    if settings.database.url is None and not settings.pgdata.exists():
        return None, f"no database configured: {unread}"
    try:
        database = Database(settings)
    except Exception as exc:
        return None, f"the database did not answer ({type(exc).__name__}): {unread}"
    try:
        state = read_state(database)
    except Exception as exc:
        return None, f"the database did not answer ({type(exc).__name__}): {unread}"
    finally:
        database.close()
    return LegacyGate(settings, database, state), None
