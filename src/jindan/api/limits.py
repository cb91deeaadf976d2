"""Per-principal token buckets for the AI routes: a burst, then a steady rate; 429 with Retry-After beyond.

``SharedLimiter`` keeps the buckets in PostgreSQL (``rate_buckets``), so a limit holds across every replica
of the service: one statement refills and spends a bucket atomically, on PostgreSQL's clock. If PostgreSQL
cannot be reached the replica falls back to its own in-memory buckets (logged) rather than refusing everyone.
``Limiter`` is the in-memory bucket set of one process (``limits.store = memory``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import text

from jindan.db.engine import Database
from jindan.settings_sections import LimitSettings

MAX_BUCKETS = 100_000
SWEEP_EVERY_S = 600.0  # full buckets idle this long are deleted from PostgreSQL by whichever replica sweeps
log = logging.getLogger(__name__)


class RateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many AI requests; retry in {math.ceil(retry_after_s)} s")
        self.retry_after_s = retry_after_s


class AnyLimiter(Protocol):
    def take(self, key: str, role: str) -> None: ...


class Limiter:
    def __init__(self, cfg: LimitSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.clock = cfg, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, role: str) -> None:
        """Spend one request for ``key``; raises RateLimited with the wait when the bucket is empty."""
        rate = self.cfg.ai_per_minute.get(role, 0) / 60.0
        if rate <= 0:
            raise RateLimited(60.0)
        now, burst = self.clock(), float(self.cfg.ai_burst)
        with self._lock:
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited((1.0 - tokens) / rate)
            if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < burst}  # drop full buckets
            self._buckets[key] = (tokens - 1.0, now)


REFILLED = "LEAST(:burst, b.tokens + EXTRACT(EPOCH FROM now() - b.at) * :rate)"
TAKE = text(
    f"""
    INSERT INTO rate_buckets AS b (key, tokens, at) VALUES (:key, :burst - 1, now())
    ON CONFLICT (key) DO UPDATE SET tokens = {REFILLED} - 1, at = now()
    WHERE {REFILLED} >= 1
    RETURNING b.tokens
    """
)
LEFT = text(f"SELECT {REFILLED} FROM rate_buckets AS b WHERE key = :key")
SWEEP = text("DELETE FROM rate_buckets WHERE at < now() - make_interval(secs => :idle)")


class SharedLimiter:
    """The buckets of every replica, in PostgreSQL; the in-memory ``Limiter`` while PostgreSQL is away."""

    def __init__(self, cfg: LimitSettings, db: Database) -> None:
        self.cfg, self.db = cfg, db
        self.local = Limiter(cfg)
        self._swept = time.monotonic()
        self._warned = 0.0

    def take(self, key: str, role: str) -> None:
        rate = self.cfg.ai_per_minute.get(role, 0) / 60.0
        if rate <= 0:
            raise RateLimited(60.0)
        params = {"key": key[:200], "burst": float(self.cfg.ai_burst), "rate": rate}
        try:
            with self.db.engine.begin() as conn:
                if conn.execute(TAKE, params).first() is None:
                    tokens = conn.scalar(LEFT, params) or 0.0
                    raise RateLimited((1.0 - float(tokens)) / rate)
                self._sweep(conn)
        except RateLimited:
            raise
        except Exception as exc:
            self._fallback(exc)
            self.local.take(key, role)

    def _sweep(self, conn: object) -> None:
        if time.monotonic() - self._swept < SWEEP_EVERY_S:
            return
        self._swept = time.monotonic()
        idle = max(3600.0, 60.0 * self.cfg.ai_burst)  # long after any bucket has refilled
        conn.execute(SWEEP, {"idle": idle})  # type: ignore[attr-defined]

    def _fallback(self, exc: Exception) -> None:
        if time.monotonic() - self._warned > 60:
            self._warned = time.monotonic()
            log.warning("shared rate limits unavailable (%s): this replica counts on its own", type(exc).__name__)


def build_limiter(cfg: LimitSettings, db: Database | None) -> AnyLimiter:
    """``limits.store``: postgres (shared by every replica, the default) or memory (this process only)."""
    if cfg.store == "memory" or db is None:
        return Limiter(cfg)
    return SharedLimiter(cfg, db)
