"""Health-aware routing over several hosts of one backend (Ollama, vLLM, llama.cpp servers).

Not a load balancer of our own: each host is a real server; we only pick which one gets a request. A host that
fails is skipped for a cool-down; among healthy hosts the least busy (fewest requests in flight) wins, ties go
to the one used longest ago, so load spreads instead of piling on the first host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class HostState:
    url: str
    inflight: int = 0
    down_until: float = 0.0
    failures: int = 0
    last_used: float = 0.0

    def healthy(self, now: float) -> bool:
        return now >= self.down_until


class NoHealthyHost(RuntimeError):
    pass


class HostPool:
    def __init__(self, urls: list[str], cooldown_s: float = 15.0) -> None:
        if not urls:
            raise ValueError("at least one host is required")
        self.hosts = [HostState(u.rstrip("/")) for u in urls]
        self.cooldown_s = cooldown_s

    def order(self) -> list[HostState]:
        """Hosts to try, best first: healthy by load, then the ones cooling down (soonest back first)."""
        now = time.monotonic()
        healthy = sorted((h for h in self.hosts if h.healthy(now)), key=lambda h: (h.inflight, h.last_used))
        cooling = sorted((h for h in self.hosts if not h.healthy(now)), key=lambda h: h.down_until)
        return healthy + cooling

    @contextmanager
    def lease(self, host: HostState) -> Iterator[HostState]:
        host.inflight += 1
        host.last_used = time.monotonic()
        try:
            yield host
        finally:
            host.inflight -= 1

    def failed(self, host: HostState) -> None:
        host.failures += 1
        host.down_until = time.monotonic() + self.cooldown_s

    def succeeded(self, host: HostState) -> None:
        host.failures = 0
        host.down_until = 0.0
