"""Health- and cache-aware routing over several hosts of one backend (Ollama, vLLM, llama.cpp servers).

Not a load balancer of our own: each host is a real server; we only pick which one gets a request. A host that
fails is skipped for a cool-down. With a routing key (the prompt's stable prefix: a question's instructions,
context and target) the hosts are ranked by rendezvous hashing, so every request for that question goes to the
same healthy host and finds its prompt in that host's prefix cache (Ollama, vLLM and llama.cpp servers all keep
one); when that host is down the next one in the same ranking takes it (so the fallback is stable too), and
when it is busier than the least busy host by ``spill_inflight`` requests the request goes by load instead.
Without a key (or with policy ``load``) the least busy host wins, ties to the one used longest ago.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

Policy = Literal["prefix", "load"]


class _Message(Protocol):
    @property
    def content(self) -> str: ...
    @property
    def stable_chars(self) -> int | None: ...


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


def routing_key(messages: Sequence[_Message]) -> str:
    """The part of a prompt that repeats across requests: up to the last message's ``stable_chars`` (every
    message before it whole); without hints, every message but the last (a conversation's history)."""
    marked = [i for i, m in enumerate(messages) if m.stable_chars is not None]
    if marked:
        last = marked[-1]
        parts = [m.content for m in messages[:last]]
        parts.append(messages[last].content[: max(0, messages[last].stable_chars or 0)])
    else:
        parts = [m.content for m in (messages[:-1] if len(messages) > 1 else messages)]
    return "\x1e".join(parts)


def _score(key: str, url: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{url}\x00{key}".encode(), digest_size=8).digest(), "big")


class HostPool:
    def __init__(
        self, urls: list[str], cooldown_s: float = 15.0, *, policy: Policy = "prefix", spill_inflight: int = 2
    ) -> None:
        if not urls:
            raise ValueError("at least one host is required")
        self.hosts = [HostState(u.rstrip("/")) for u in urls]
        self.cooldown_s = cooldown_s
        self.policy: Policy = policy
        self.spill_inflight = spill_inflight

    def order(self, key: str | None = None) -> list[HostState]:
        """Hosts to try, best first: healthy ones (by the key's ranking, or by load), then the ones cooling
        down (soonest back first)."""
        now = time.monotonic()
        healthy = [h for h in self.hosts if h.healthy(now)]
        by_load = sorted(healthy, key=lambda h: (h.inflight, h.last_used))
        if key is not None and self.policy == "prefix" and healthy:
            ranked = sorted(healthy, key=lambda h: _score(key, h.url), reverse=True)
            if ranked[0].inflight - by_load[0].inflight < self.spill_inflight:
                by_load = ranked
        cooling = sorted((h for h in self.hosts if not h.healthy(now)), key=lambda h: h.down_until)
        return by_load + cooling

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
