"""`jindan bench e2e`: hint and explain end to end, in-process, as a user's request runs them.

Each request goes through the configured stack exactly as the API runs it (question lookup, search, prompt,
router, provider) and is timed from the call to the first answer token (TTFT) and to the end. Phases:

- ``cold``: no cached state for that question (the provider's prefix cache and KV cache emptied first);
- ``warm``: another student's hint on the same question with a different answer, after every other sampled
  question was asked in between (so only a prefix cache, not the last prompt's KV, can help);
- ``concurrent``: ``clients`` requests at once (a third answer), through the bounded provider queue;
- ``explain``: cold and warm explanations of the same questions.

Quality rides along so speed is never bought by a worse answer unseen: ``leak_rate`` is the share of hints
that give the bank's answer away (``reports.grading.leaked``, the rule `jindan compare` uses: the hint commits
to the key, or states a key of 3+ characters verbatim), ``cited_rate`` the share of answers citing at least
one source, ``length_rate`` the share stopped by the token limit rather than by the model (a small model that
starts repeating itself runs to the limit). The answer checks' numbers (``answers.rates``) ride along too:
``presentable_rate`` (what the student read passed every check), ``model_pass_rate`` (the model's own answer
passed), ``fallback_rate`` (the bank answered) and ``model_failures`` (each check's failure rate); the text
timed is what the student finally reads (a model answer replaced by the bank's is taken back).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from jindan.answers.gate import Checked
from jindan.answers.grading import leaked
from jindan.answers.rates import rates
from jindan.bench.stats import pct
from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.llm.base import ChatMessage, ProviderError
from jindan.llm.router import Router
from jindan.rag.answer import RagEvent, RagService
from jindan.rag.reading import read

T = TypeVar("T")
ANSWERS = (
    "I got 7 but I am not sure.",
    "My answer is 12. Where did I go wrong?",
    "I think it is 1/2 because I divided both sides.",
)


@dataclass
class Sample:
    ttft_ms: float
    total_ms: float
    sources_ms: float
    prompt_tokens: int
    completion_tokens: int
    text: str
    cited: bool
    leak: bool | None  # None: not judged (explanations, questions without an answer key)
    cut: bool = False  # stopped by the token limit, not by the model (a loop, or an answer too long)
    checked: Checked | None = None  # the answer checks' verdicts (None: the path does not check)


def _leak(text: str, q: Question) -> bool | None:
    return leaked(text, q.answer)


async def timed(events: AsyncIterator[RagEvent], q: Question, judge: bool) -> Sample:
    r = await read(events)
    return Sample(
        ttft_ms=r.ttft_ms,
        total_ms=r.total_ms,
        sources_ms=r.sources_ms,
        prompt_tokens=r.prompt_tokens,
        completion_tokens=r.usage.completion_tokens if r.usage else 0,
        text=r.text,
        cited=r.cited,
        leak=_leak(r.text, q) if judge else None,
        cut=r.usage is not None and r.usage.finish_reason == "length",
        checked=r.checked,
    )


def summarize(samples: list[Sample], failed: int = 0) -> dict[str, Any]:
    judged = [s.leak for s in samples if s.leak is not None]
    out: dict[str, Any] = {
        "n": len(samples),
        "ttft_ms_p50": round(pct([s.ttft_ms for s in samples], 50), 1),
        "ttft_ms_p95": round(pct([s.ttft_ms for s in samples], 95), 1),
        "total_ms_p50": round(pct([s.total_ms for s in samples], 50), 1),
        "sources_ms_p50": round(pct([s.sources_ms for s in samples], 50), 1),
        "prompt_tokens_p50": round(pct([float(s.prompt_tokens) for s in samples], 50)),
        "completion_tokens_p50": round(pct([float(s.completion_tokens) for s in samples], 50)),
        "leak_rate": round(sum(judged) / len(judged), 3) if judged else None,
        "leak_judged": len(judged),
        "cited_rate": round(sum(s.cited for s in samples) / len(samples), 3) if samples else None,
        "length_rate": round(sum(s.cut for s in samples) / len(samples), 3) if samples else None,
    }
    checked = [s.checked for s in samples if s.checked is not None]
    if checked:
        quality = rates(checked)
        out |= {k: quality[k] for k in ("presentable_rate", "model_pass_rate", "fallback_rate")}
        out["model_failures"] = quality["failures"]
    if failed:
        out["failed"] = failed
    return out


def sample_questions(db: Database, n: int, seed: int) -> list[Question]:
    """``n`` bank questions that have an answer, drawn with a fixed seed (the same set run after run)."""
    with db.session() as s:
        ids = list(s.scalars(select(Question.id).where(Question.answer.is_not(None)).order_by(Question.id)))
        if not ids:
            raise ValueError("the bank has no question with an answer: import and index questions first")
        picked = random.Random(seed).sample(ids, min(n, len(ids)))
        rows = {q.id: q for q in s.scalars(select(Question).where(Question.id.in_(picked)))}
        for q in rows.values():
            s.expunge(q)
    return [rows[i] for i in picked]


def _providers(router: Router) -> list[Any]:
    out = []
    for name in dict.fromkeys(router.chain("hint") + router.chain("explain")):
        try:
            out.append(router.provider(name))
        except ProviderError:
            continue
    return out


def forget(router: Router, messages: list[ChatMessage] | None = None) -> None:
    """Empty the caches the providers keep (the last prompt's KV, the prefix states ``messages`` would reuse;
    every prefix state when None), so the next request on these messages starts cold."""
    for provider in _providers(router):
        clear = getattr(provider, "forget", None)
        if callable(clear):
            clear(messages)
        elif provider.name == "llamacpp":  # a provider without a prefix cache still keeps the last prompt
            provider.load().reset()


def cache_stats(router: Router) -> dict[str, Any] | None:
    for provider in _providers(router):
        cache = getattr(provider, "prefix_cache", None)
        if cache is not None:
            return {
                "hits": cache.hits,
                "misses": cache.misses,
                "bytes": cache.bytes,
                "entries": len(cache),
                "disk_hits": getattr(cache, "disk_hits", 0),
            }
    return None


class Phase:
    """The samples of one phase, the requests that failed (busy, timed out) instead of answering, and the
    prefix cache's hits and misses during the phase."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.samples: list[Sample] = []
        self.failed = 0
        self.start = cache_stats(router)

    async def add(self, events: AsyncIterator[RagEvent], q: Question, judge: bool) -> None:
        try:
            self.samples.append(await timed(events, q, judge))
        except ProviderError:  # counted, not retried: a busy queue or a timeout is part of the result
            self.failed += 1

    def summary(self) -> dict[str, Any]:
        out = summarize(self.samples, self.failed)
        end = cache_stats(self.router)
        if self.start is not None and end is not None:
            out["prefix_hits"] = end["hits"] - self.start["hits"]
            out["prefix_misses"] = end["misses"] - self.start["misses"]
        return out


async def _measure(
    rag: RagService,
    router: Router,
    questions: list[Question],
    *,
    clients: int,
    explain: bool,
    step: Callable[[str], None],
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    cold = Phase(router)
    for q in questions:  # cold for this question; the other questions' prefix states are kept for "warm"
        forget(router, (await rag.build_prompt("hint", q.id, ANSWERS[0])).messages)
        await cold.add(rag.hint(q.id, ANSWERS[0]), q, judge=True)
        step("cold")
    result["cold"] = cold.summary()
    warm = Phase(router)
    for q in questions:  # every other question was asked since this one's cold hint
        await warm.add(rag.hint(q.id, ANSWERS[1]), q, judge=True)
        step("warm")
    result["warm"] = warm.summary()
    concurrent = Phase(router)
    pending = list(questions)

    async def client() -> None:
        while pending:
            q = pending.pop()
            await concurrent.add(rag.hint(q.id, ANSWERS[2]), q, judge=True)
            step("concurrent")

    await asyncio.gather(*(client() for _ in range(clients)))
    result["concurrent"] = concurrent.summary()
    if explain:
        ecold = Phase(router)
        for q in questions:
            forget(router, (await rag.build_prompt("explain", q.id)).messages)
            await ecold.add(rag.explain(q.id), q, judge=False)
            step("explain cold")
        ecold_summary = ecold.summary()
        ewarm = Phase(router)
        for q in reversed(questions):
            await ewarm.add(rag.explain(q.id), q, judge=False)
        step("explain warm")
        result["explain"] = {"cold": ecold_summary, "warm": ewarm.summary()}
    return result


def run(
    settings: Any,
    db: Database,
    retriever: Any,
    router: Router,
    *,
    questions: int = 8,
    clients: int = 4,
    seed: int = 0,
    explain: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    picked = sample_questions(db, questions, seed)
    rag = RagService(settings, db, retriever, router)

    async def body() -> dict[str, Any]:
        await timed(rag.hint(picked[0].id, "warm-up"), picked[0], judge=False)
        return await _measure(rag, router, picked, clients=clients, explain=explain, step=progress or (lambda _: None))

    result, stats = isolated(router, body)
    return {
        "model": f"{settings.llm.provider}/{settings.llm.model}",
        "embedder": f"{settings.embed.provider}/{settings.embed.model}",
        "weights": next((getattr(p, "weights", None) for p in _providers(router) if p.name == "llamacpp"), None),
        "questions": len(picked),
        "clients": clients,
        "seed": seed,
        **result,
        "prefix_cache": stats,
    }


def isolated(router: Router, body: Callable[[], Awaitable[T]]) -> tuple[T, dict[str, Any] | None]:
    """Run ``body`` with the model and embedder loaded first (a service has them loaded) and the prefix cache's
    disk tier in a scratch folder (emptying it for "cold" must never touch the real one); returns what it
    returned and the prefix cache's counts. The router is closed afterwards."""

    async def go(scratch: Path) -> T:
        try:
            for provider in _providers(router):
                if provider.name == "llamacpp":
                    provider.load()  # first: a load may replace the prefix cache (weights that could not convert)
                cache = getattr(provider, "prefix_cache", None)
                if cache is not None and cache.dir is not None:
                    cache.dir = scratch / cache.dir.name
            return await body()
        finally:
            holder["stats"] = cache_stats(router)
            for provider in _providers(router):
                cache = getattr(provider, "prefix_cache", None)
                if cache is not None:
                    cache.flush()  # no write may land in the scratch folder after it is removed
            await router.aclose()

    holder: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jindan-bench-prefix-") as scratch:
        result = asyncio.run(go(Path(scratch)))
    return result, holder.get("stats")
