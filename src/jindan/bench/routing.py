"""`jindan bench e2e --hosts A,B`: prefix-cache hits per host-routing policy against real model servers.

Several OpenAI-compatible servers (llama.cpp's, vLLM, Ollama's /v1) each keep a prefix cache: a prompt whose
stable prefix (a question's instructions, context and target) the server evaluated before starts at once.
The requests are the hint prompts of ``questions`` bank questions, each asked by ``students`` students with
different answers, in a shuffled order (fixed seed) as a class's traffic arrives. Each policy routes them
through the service's own ``HostPool``:

- ``prefix``: rendezvous hashing on the stable prefix (every request of a question goes to the same host);
- ``load``: the least busy host (ties to the one used longest ago), blind to the prefix.

A request is a *prefix hit* when the host it went to had served the same stable prefix before (what its
prefix cache can reuse); ``repeats`` counts the requests whose prefix any host had served before, so
``hit_rate`` = hits / repeats is the share of reusable prefixes that found their cache. Time to first token
is reported for first requests and for hits and misses among repeats. Each policy gets its own questions
(disjoint samples), so one policy never warms the caches the other one uses.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from jindan.bench.stats import pct
from jindan.llm.base import ChatMessage
from jindan.llm.hosts import HostPool, Policy, routing_key

POLICIES: tuple[Policy, ...] = ("prefix", "load")


@dataclass
class Request:
    question: int
    messages: list[ChatMessage]

    @property
    def key(self) -> str:
        return routing_key(self.messages)


@dataclass
class PolicyRun:
    policy: Policy
    hosts: Counter[str] = field(default_factory=Counter)
    first_ms: list[float] = field(default_factory=list)
    hit_ms: list[float] = field(default_factory=list)
    miss_ms: list[float] = field(default_factory=list)  # repeats that landed on a host without their prefix
    failed: int = 0
    questions_on_one_host: int = 0
    questions: int = 0

    def summary(self) -> dict[str, Any]:
        repeats = len(self.hit_ms) + len(self.miss_ms)

        def p50(xs: list[float]) -> float | None:
            return round(pct(xs, 50), 1) if xs else None

        return {
            "requests": len(self.first_ms) + repeats + self.failed,
            "per_host": dict(sorted(self.hosts.items())),
            "repeats": repeats,
            "prefix_hits": len(self.hit_ms),
            "hit_rate": round(len(self.hit_ms) / repeats, 3) if repeats else None,
            "questions_on_one_host": f"{self.questions_on_one_host}/{self.questions}",
            "ttft_ms_p50_first": p50(self.first_ms),
            "ttft_ms_p50_hit": p50(self.hit_ms),
            "ttft_ms_p50_miss": p50(self.miss_ms),
            "failed": self.failed,
        }


def traffic(prompts: dict[int, list[list[ChatMessage]]], seed: int) -> list[Request]:
    """Every student's prompt of every question, shuffled as a class's requests arrive."""
    requests = [Request(q, messages) for q, per_student in prompts.items() for messages in per_student]
    random.Random(seed).shuffle(requests)
    return requests


def ttft_ms(client: httpx.Client, host: str, model: str, messages: list[ChatMessage], max_tokens: int) -> float:
    """Stream one chat completion; milliseconds until its first content chunk (the prompt's evaluation)."""
    body = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }
    start = time.perf_counter()
    with client.stream("POST", f"{host}/v1/chat/completions", json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0].get("delta", {})
            if delta.get("content"):
                return (time.perf_counter() - start) * 1000
    return (time.perf_counter() - start) * 1000  # no text at all: the whole answer's time


def route(
    requests: Sequence[Request],
    hosts: list[str],
    policy: Policy,
    *,
    model: str,
    max_tokens: int = 1,
    client: httpx.Client | None = None,
    step: Callable[[], None] | None = None,
) -> PolicyRun:
    pool = HostPool(hosts, policy=policy)
    seen: dict[str, set[str]] = {h.url: set() for h in pool.hosts}
    served: set[str] = set()
    homes: dict[int, set[str]] = {}
    run = PolicyRun(policy)
    http = client or httpx.Client(timeout=600)
    try:
        for req in requests:
            key = req.key
            host = pool.order(key)[0]
            with pool.lease(host):
                try:
                    ms = ttft_ms(http, host.url, model, req.messages, max_tokens)
                except httpx.HTTPError:
                    pool.failed(host)
                    run.failed += 1
                    continue
            pool.succeeded(host)
            run.hosts[host.url] += 1
            homes.setdefault(req.question, set()).add(host.url)
            if key not in served:
                run.first_ms.append(ms)
            elif key in seen[host.url]:
                run.hit_ms.append(ms)
            else:
                run.miss_ms.append(ms)
            served.add(key)
            seen[host.url].add(key)
            if step:
                step()
    finally:
        if client is None:
            http.close()
    run.questions = len(homes)
    run.questions_on_one_host = sum(len(h) == 1 for h in homes.values())
    return run


def compare(
    prompts_per_policy: dict[Policy, dict[int, list[list[ChatMessage]]]],
    hosts: list[str],
    *,
    model: str,
    seed: int = 0,
    max_tokens: int = 1,
    step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Route each policy's traffic over ``hosts``; prefix hits, spread and first-token times per policy."""
    out: dict[str, Any] = {"hosts": hosts, "model": model, "seed": seed, "max_tokens": max_tokens, "policies": {}}
    for policy, prompts in prompts_per_policy.items():
        requests = traffic(prompts, seed)
        out["policies"][policy] = route(
            requests, hosts, policy, model=model, max_tokens=max_tokens, step=step
        ).summary()
    return out


def hint_prompts(
    settings: Any, db: Any, retriever: Any, router: Any, *, questions: int, students: int, seed: int
) -> dict[Policy, dict[int, list[list[ChatMessage]]]]:
    """Each policy's own bank questions (disjoint samples), with the hint prompt each student's answer gets:
    built by the service's RAG path (search, context, prompt), as a request would send it."""
    import asyncio

    from jindan.bench.e2e import ANSWERS, sample_questions
    from jindan.rag.answer import RagService

    picked = sample_questions(db, questions * len(POLICIES), seed)
    if len(picked) < 2 * len(POLICIES):
        raise ValueError("the bank has too few questions with an answer for this bench")
    rag = RagService(settings, db, retriever, router)
    answers = [ANSWERS[i % len(ANSWERS)] + ("" if i < len(ANSWERS) else f" ({i})") for i in range(students)]

    async def build() -> dict[Policy, dict[int, list[list[ChatMessage]]]]:
        out: dict[Policy, dict[int, list[list[ChatMessage]]]] = {}
        for n, policy in enumerate(POLICIES):
            mine = picked[n :: len(POLICIES)]
            out[policy] = {q.id: [(await rag.build_prompt("hint", q.id, a)).messages for a in answers] for q in mine}
        return out

    return asyncio.run(build())
