"""Per-principal token buckets for the AI routes: a burst, then a steady rate; 429 with Retry-After beyond."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from jindan.settings_sections import LimitSettings

MAX_BUCKETS = 100_000


class RateLimited(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many AI requests; retry in {math.ceil(retry_after_s)} s")
        self.retry_after_s = retry_after_s


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
