"""Prometheus metrics of one app: its own registry, recorded where things happen, read on scrape.

The LLM router and the retriever call an observer (this class) so ``llm/`` and ``rag/`` never import
prometheus; breaker states, the llama.cpp queue and its prefix cache are read live by a collector. Labels are
bounded: route templates, route names, providers, models, outcomes, status classes; never ids or text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jindan.answers.gate import Checked, Example
from jindan.answers.log import AnswerLog
from jindan.llm.base import Usage
from jindan.llm.traffic import CLIENT_MODEL, TrafficLog

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BREAKER = {"closed": 0, "half-open": 1, "open": 2}


class LiveState(Collector):
    """Values that exist in the running objects: read when Prometheus scrapes, never copied."""

    def __init__(self, state: Callable[[], Any]) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        app_state = self.state()
        router = getattr(app_state, "router", None)
        breaker = GaugeMetricFamily(
            "jindan_llm_breaker_state",
            "Circuit breaker per provider: 0 closed, 1 half-open, 2 open",
            labels=["provider"],
        )
        queue = GaugeMetricFamily("jindan_llm_queue_depth", "Generations waiting for the in-process model")
        cache = GaugeMetricFamily("jindan_llm_prefix_cache", "llama.cpp prefix cache", labels=["stat"])
        if router is not None:
            for name, b in list(router.breakers.items()):
                breaker.add_metric([name], BREAKER.get(b.state, 0))
            for provider in list(getattr(router, "_providers", {}).values()):
                depth = getattr(provider, "queue_depth", None)
                if isinstance(depth, int):
                    queue.add_metric([], depth)
                prefix = getattr(provider, "prefix_cache", None)
                for stat in ("hits", "misses", "bytes", "disk_hits", "disk_bytes"):
                    value = getattr(prefix, stat, None)
                    if isinstance(value, int | float):
                        cache.add_metric([stat], float(value))
        index = GaugeMetricFamily("jindan_index_building", "1 while the question index is being built")
        thread = getattr(app_state, "index_thread", None)
        index.add_metric([], 1.0 if thread is not None and thread.is_alive() else 0.0)
        yield from (breaker, queue, cache, index)


class Metrics:
    def __init__(self, state: Callable[[], Any] | None = None) -> None:
        r = self.registry = CollectorRegistry()
        self.http = Histogram(
            "jindan_http_request_seconds",
            "HTTP request latency",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "jindan_llm_ttft_seconds", "Time to first token", ["provider", "model"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.tps = Histogram(
            "jindan_llm_tokens_per_second",
            "Decode speed",
            ["provider", "model"],
            buckets=(1, 5, 10, 20, 40, 80, 160, 320),
            registry=r,
        )
        self.tokens = Counter("jindan_llm_tokens", "Tokens processed", ["provider", "model", "kind"], registry=r)
        self.attempts = Counter(
            "jindan_llm_attempts", "Provider attempts by outcome", ["route", "provider", "outcome"], registry=r
        )
        self.fallbacks = Counter(
            "jindan_llm_fallbacks", "Requests that moved on to the next provider", ["route", "provider"], registry=r
        )
        self.shadow = Counter("jindan_llm_shadow_runs", "Shadow runs by outcome", ["route", "outcome"], registry=r)
        self.search = Histogram(
            "jindan_vector_search_seconds", "Vector search latency", ["store"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.answers = Counter(
            "jindan_answers",
            "Answers shown to students by source and whether they passed",
            ["route", "source", "passed"],
            registry=r,
        )
        self.checks = Counter(
            "jindan_answer_checks",
            "The model's own answers by check and outcome",
            ["route", "provider", "model", "check", "outcome"],
            registry=r,
        )
        self.traffic: TrafficLog | None = None  # the answers counted in PostgreSQL too (set by the app)
        self.answer_log: AnswerLog | None = None  # answer checks counted in PostgreSQL too (set by the app)
        if state is not None:
            r.register(LiveState(state))

    # RouterObserver (jindan.llm.router)
    def attempt(self, route: str, provider: str, outcome: str) -> None:
        self.attempts.labels(route, provider, outcome).inc()

    def fallback(self, route: str, provider: str) -> None:
        self.fallbacks.labels(route, provider).inc()

    def usage(self, route: str, u: Usage) -> None:
        if self.traffic is not None:
            self.traffic.add(route, u, CLIENT_MODEL.get())
        self.ttft.labels(u.provider, u.model).observe(u.ttft_ms / 1000)
        if u.decode_tokens_per_s > 0:
            self.tps.labels(u.provider, u.model).observe(u.decode_tokens_per_s)
        self.tokens.labels(u.provider, u.model, "prompt").inc(u.prompt_tokens)
        self.tokens.labels(u.provider, u.model, "completion").inc(u.completion_tokens)

    def shadow_run(self, route: str, outcome: str) -> None:
        self.shadow.labels(route, outcome).inc()

    # AnswerObserver (jindan.answers.gate)
    def checked(self, route: str, result: Checked, example: Example | None) -> None:
        if self.answer_log is not None:
            self.answer_log.add(route, result, example)
        self.answers.labels(route, result.source, str(result.passed).lower()).inc()
        for v in result.model_checks:
            outcome = "passed" if v.passed else "failed"
            self.checks.labels(route, result.provider, result.model, v.check, outcome).inc()

    # SearchObserver (jindan.rag.retrieve)
    def searched(self, store: str, seconds: float) -> None:
        self.search.labels(store).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
