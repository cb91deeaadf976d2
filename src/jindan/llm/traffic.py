"""Every answer counted per day, route, provider, model and the model name a gateway client sent (tokens and
answer time, never text or user), written to PostgreSQL in batches (``llm_traffic``): the volume `jindan cost
--from-traffic` reads, for every route, shadowed or not, and the client models `jindan legacy status` lists.
``add`` is called on the event loop for each finished answer; ``flush`` runs off it, every ``interval`` seconds
and at shutdown, and a flush that fails keeps its counts for the next one."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Protocol

from sqlalchemy.dialects.postgresql import insert

from jindan.db.engine import Database
from jindan.db.models import LLMTraffic
from jindan.llm.base import Usage

Key = tuple[date, str, str, str, str]
logger = logging.getLogger(__name__)
# the model name the client of a gateway request sent; set by the gateway for the request, empty otherwise
CLIENT_MODEL: ContextVar[str] = ContextVar("jindan_client_model", default="")


class TrafficLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._pending: dict[Key, list[float]] = {}

    def add(self, route: str, usage: Usage, client_model: str = "") -> None:
        key = (datetime.now(UTC).date(), route[:50], usage.provider[:50], usage.model[:200], client_model[:200])
        with self._lock:
            self._merge(key, (1, usage.prompt_tokens, usage.completion_tokens, usage.total_ms / 1000))

    def _merge(self, key: Key, values: Sequence[float]) -> None:
        """Add ``values`` (answers, prompt tokens, completion tokens, seconds) to ``key``'s pending counts."""
        row = self._pending.setdefault(key, [0, 0, 0, 0.0])
        for i, v in enumerate(values):
            row[i] += v

    def flush(self) -> int:
        """Add the counts gathered since the last flush to the table; returns the rows written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        rows = [
            {
                "day": day,
                "route": route,
                "provider": provider,
                "model": model,
                "client_model": client_model,
                "requests": int(n),
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "seconds": seconds,
            }
            for (day, route, provider, model, client_model), (n, prompt, completion, seconds) in pending.items()
        ]
        stmt = insert(LLMTraffic).values(rows)
        added = {
            c: getattr(LLMTraffic, c) + stmt.excluded[c]
            for c in ("requests", "prompt_tokens", "completion_tokens", "seconds")
        }
        try:
            with self.db.session() as s:
                s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["day", "route", "provider", "model", "client_model"], set_=added
                    )
                )
        except Exception:
            with self._lock:  # nothing is lost: the counts wait for the next flush
                for key, values in pending.items():
                    self._merge(key, values)
            raise
        return len(rows)


FLUSH_S = 60.0


class Flushable(Protocol):
    def flush(self) -> int: ...


async def flush_every(log: Flushable, interval_s: float = FLUSH_S) -> None:
    """Flush ``log`` every ``interval_s`` until cancelled (the service's lifespan flushes once more at the end)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(log.flush)
        except Exception as exc:  # the database is down for a moment: the counts wait
            logger.warning("traffic counts not written yet (%s); retrying in %.0f s", type(exc).__name__, interval_s)
