"""`jindan compare`: the same requests, built from bank questions, through several providers, scored and stored.

Requests are the product's own prompts for the route: ``hint`` and ``explain`` are built by ``rag.prompt``
(the hint without the official solution, the explanation with it), ``chat`` asks for a solution ending in
``\\boxed{}``, ``diagnosis`` asks for a JSON object ``{answer, explanation}`` with a schema. Providers answer one
after another (never at once, so one cannot slow the other down); every answer is stored in ``compare_results``
as soon as it is scored, so an interrupted run keeps what it measured. After the last request, agreement with
the reference provider (embedding cosine of the two answers) is added and the per-provider summary is stored
on the run. An answer that failed, was cut or is empty counts as failed and is left out of every score.
Hints and explanations also go through the answer checks a student's answer passes (``answers.checks``):
``checks_passed`` is the share of a model's answers that could be shown as they are, ``check_failures`` each
check's failure rate.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from jindan.answers import grading
from jindan.answers.checks import Case, judge
from jindan.answers.text import language_of
from jindan.bench.stats import pct
from jindan.db.engine import Database
from jindan.db.models import CompareResult, CompareRun, Question
from jindan.embed.base import Embedder
from jindan.llm.base import ChatMessage, GenOptions, LLMProvider, Usage, collect
from jindan.llm.catalog import CATALOG, cost_usd
from jindan.rag import prompt
from jindan.rag.answer import context_window
from jindan.reports.cost import local_krw_per_second
from jindan.settings import Settings

ROUTES = ("hint", "explain", "chat", "diagnosis")
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "explanation": {"type": "string"}},
    "required": ["answer", "explanation"],
}
SOLVE = {
    "ko": "문제를 풀고 풀이를 한국어로 간단히 쓰세요. 마지막에 최종 답을 \\boxed{} 안에 쓰세요.",
    "en": "Solve the problem and show the steps briefly. End with the final answer inside \\boxed{}.",
}
AS_JSON = {
    "ko": 'JSON으로만 답하세요: {"answer": "최종 답", "explanation": "한국어로 쓴 짧은 풀이"}',
    "en": 'Reply with JSON only: {"answer": "the final answer", "explanation": "a short solution"}',
}


@dataclass(frozen=True)
class Item:
    question_id: int
    key: str | None
    messages: list[ChatMessage]
    opts: GenOptions
    case: Case | None = None  # what the answer checks judge it against (hints and explanations)


def priced(model: str, prices: dict[str, tuple[float, float]]) -> bool:
    """Has the model an API price? Models without one run on our machines and cost machine time."""
    if model in prices:
        return any(prices[model])
    info = CATALOG.get(model)
    return info is not None and (info.price_in > 0 or info.price_out > 0)


def label(provider: LLMProvider) -> str:
    return f"{provider.name}/{provider.model}"


def sample_questions(
    db: Database, n: int, seed: int = 0, source: str | None = None, subject: str | None = None
) -> list[Question]:
    """``n`` questions with an answer key, the same ones for the same seed (ordered by a hash of id and seed)."""
    with db.session() as s:
        q = (
            select(Question)
            .options(selectinload(Question.concepts))
            .where(Question.answer.is_not(None), Question.answer != "")
        )
        if source:
            q = q.where(Question.source == source)
        if subject:
            q = q.where(Question.subject == subject)
        q = q.order_by(func.md5(func.concat(Question.id, "/", seed))).limit(n)
        rows = list(s.scalars(q))
        for r in rows:
            s.expunge(r)
    return rows


def _target(q: Question, with_solution: bool) -> str:
    lines = [q.body, *(f"({i + 1}) {c}" for i, c in enumerate(q.choices or []))]
    if with_solution and q.explanation:
        lines.append(f"Official solution: {q.explanation[: prompt.MAX_ITEM_CHARS]}")
    if with_solution and q.answer:
        lines.append(f"Answer: {q.answer}")
    return "\n".join(lines)


def request(route: str, q: Question, settings: Settings, language: str, max_tokens: int) -> Item:
    """The request the route would send for this question (no retrieved context: the models are compared)."""
    lang = "ko" if language == "ko" else "en"
    opts = GenOptions(temperature=0.0, max_tokens=max_tokens, seed=0)
    if route in ("hint", "explain"):
        p = prompt.build(
            route,
            language,
            _target(q, with_solution=route == "explain"),
            [],
            context_window=max(context_window(settings), max_tokens + 1024),
            max_tokens=max_tokens,
        )
        case = Case(
            route,
            language_of(q.body, language),
            question=_target(q, with_solution=False),
            key=q.answer,
            explanation=q.explanation,
            concepts=tuple(c.name for c in q.concepts),
            prompt=prompt.instructions(route, language),
            choices=tuple(q.choices or ()),
        )
        return Item(q.id, q.answer, p.messages, opts, case)
    if route == "chat":
        return Item(q.id, q.answer, [ChatMessage("system", SOLVE[lang]), ChatMessage("user", _target(q, False))], opts)
    if route == "diagnosis":
        messages = [ChatMessage("system", AS_JSON[lang]), ChatMessage("user", _target(q, False))]
        return Item(q.id, q.answer, messages, dataclasses.replace(opts, json_schema=ANSWER_SCHEMA))
    raise ValueError(f"unknown route {route!r}; compare knows {', '.join(ROUTES)}")


def score(
    route: str, language: str, key: str | None, text: str, case: Case | None = None, finish: str | None = None
) -> dict[str, Any]:
    """Correctness (not for hints), leak (hints), language and JSON validity (structured route); with a
    ``case``, the answer checks' verdicts."""
    scores: dict[str, Any] = {"hangul_share": round(grading.hangul_share(text), 3)}
    body = text
    if route == "diagnosis":
        parsed = grading.json_object(text)
        scores["json_valid"] = parsed is not None and {"answer", "explanation"} <= parsed.keys()
        body = str(parsed.get("explanation", "")) if parsed else text
        answer = str(parsed.get("answer", "")) if parsed else None
        scores["correct"] = grading.same_answer(answer, key) if key and answer else (False if key else None)
    elif route == "hint":
        scores["leaked"] = grading.leaked(text, key)
    else:
        scores["correct"] = grading.correct(text, key)
    scores["in_language"] = grading.in_language(body, language)
    if case is not None:
        verdicts = judge(case, text, finish)
        scores["checks_passed"] = all(v.passed for v in verdicts)
        scores["failed_checks"] = [v.check for v in verdicts if not v.passed]
    return scores


async def ask(provider: LLMProvider, item: Item, timeout_s: float) -> tuple[str, Usage | None, str | None]:
    try:
        text, usage = await asyncio.wait_for(collect(provider.stream(item.messages, item.opts)), timeout_s)
    except TimeoutError:
        return "", None, f"TimeoutError: no complete answer within {timeout_s:.0f}s"
    except Exception as exc:  # a failed answer is a result of the comparison, not a crash of it
        return "", None, f"{type(exc).__name__}: {exc}"
    if not text.strip():
        return text, usage, "EmptyAnswer: the provider answered with no text"
    return text, usage, None


async def run(
    settings: Settings,
    db: Database,
    route: str,
    providers: list[LLMProvider],
    questions: list[Question],
    *,
    reference: str | None = None,
    language: str | None = None,
    max_tokens: int = 256,
    options: dict[str, Any] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Run the comparison, store every answer, return the run id."""
    lang = language or settings.language
    labels = [label(p) for p in providers]
    ref = reference or labels[-1]
    if ref not in labels:
        raise ValueError(f"the reference {ref!r} is not compared; choose one of {', '.join(labels)}")
    items = [request(route, q, settings, lang, max_tokens) for q in questions]
    with db.session() as s:
        row = CompareRun(
            route=route,
            language=lang,
            providers=labels,
            reference=ref,
            options={"max_tokens": max_tokens, "sample": len(items), **(options or {})},
            status="running",
        )
        s.add(row)
        s.flush()
        run_id = row.id
    try:
        for item in items:
            results = []
            for provider in providers:
                text, usage, error = await ask(provider, item, settings.timeouts(provider.name)[1])
                results.append(_result(run_id, route, lang, provider, item, text, usage, error, settings))
                progress(1)
            await asyncio.to_thread(_store, db, results)
        await asyncio.to_thread(_agree, db, run_id, ref, embedder)
        summary = build(db, run_id, settings)
    except BaseException:
        await asyncio.to_thread(_finish, db, run_id, "failed", None)
        raise
    await asyncio.to_thread(_finish, db, run_id, "done", summary["providers"])
    return run_id


def _result(
    run_id: int,
    route: str,
    lang: str,
    provider: LLMProvider,
    item: Item,
    text: str,
    usage: Usage | None,
    error: str | None,
    settings: Settings,
) -> CompareResult:
    u = usage or Usage(provider.name, provider.model)
    return CompareResult(
        run_id=run_id,
        question_id=item.question_id,
        provider=provider.name,
        model=provider.model,
        text=text,
        error=error,
        finish_reason=u.finish_reason,
        ttft_ms=u.ttft_ms if usage else None,
        total_ms=u.total_ms if usage else None,
        tokens_per_s=u.decode_tokens_per_s if usage else None,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        cost_usd=cost_usd(provider.model, u.prompt_tokens, u.completion_tokens, settings.llm.prices),
        scores={} if error else score(route, lang, item.key, text, item.case, u.finish_reason),
    )


def _store(db: Database, results: list[CompareResult]) -> None:
    with db.session() as s:
        s.add_all(results)


def _finish(db: Database, run_id: int, status: str, summary: list[dict[str, Any]] | None) -> None:
    with db.session() as s:
        row = s.get(CompareRun, run_id)
        if row is not None:
            row.status, row.summary = status, summary


def _agree(db: Database, run_id: int, reference: str, embedder: Embedder | None) -> None:
    """Cosine between each answer and the reference provider's answer to the same question."""
    if embedder is None:
        return
    with db.session() as s:
        rows = [r for r in s.scalars(select(CompareResult).where(CompareResult.run_id == run_id)) if not r.error]
        ref = {r.question_id: r for r in rows if f"{r.provider}/{r.model}" == reference}
        pairs = [(r, ref[r.question_id]) for r in rows if r.question_id in ref and ref[r.question_id] is not r]
        if not pairs:
            return
        a = embedder.embed_passages([r.text for r, _ in pairs])
        b = embedder.embed_passages([x.text for _, x in pairs])
        for (r, _), cos in zip(pairs, np.sum(a * b, axis=1), strict=True):
            r.scores = {**r.scores, "agreement": round(float(cos), 4)}


def _share(values: list[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known else None


def _failures(ok: list[CompareResult]) -> dict[str, float]:
    judged = [r.scores["failed_checks"] for r in ok if "failed_checks" in r.scores]
    counts: Counter[str] = Counter(c for failed in judged for c in failed)
    return {k: round(n / len(judged), 3) for k, n in counts.most_common()}


def _stat(values: list[float], q: float) -> float | None:
    return round(pct(values, q), 1) if values else None


def build(db: Database, run_id: int, settings: Settings) -> dict[str, Any]:
    """The run and, per provider: latency, TTFT, tokens/s, tokens, scores, cost per 1,000 requests in KRW."""
    with db.session() as s:
        run = s.get(CompareRun, run_id)
        if run is None:
            raise LookupError(f"no compare run {run_id}: see `jindan report --out DIR` for the runs recorded")
        results = list(s.scalars(select(CompareResult).where(CompareResult.run_id == run_id)))
        head = {
            "run": run.id,
            "created_at": run.created_at.isoformat(timespec="seconds"),
            "route": run.route,
            "language": run.language,
            "reference": run.reference,
            "options": run.options,
        }
        order = list(run.providers)
    per_sec = local_krw_per_second(settings)
    providers = []
    for name in order:
        mine = [r for r in results if f"{r.provider}/{r.model}" == name]
        ok = [r for r in mine if not r.error]
        api = priced(name.split("/", 1)[1], settings.llm.prices)
        api_usd = sum(r.cost_usd for r in mine)
        krw = api_usd * settings.cost.usd_krw if api else sum((r.total_ms or 0) for r in ok) / 1000 * per_sec
        agreement = [float(r.scores["agreement"]) for r in ok if "agreement" in r.scores]
        providers.append(
            {
                "provider": name,
                "n": len(mine),
                "answered": len(ok),
                "failed": len(mine) - len(ok),
                "total_ms_p50": _stat([r.total_ms for r in ok if r.total_ms is not None], 50),
                "total_ms_p95": _stat([r.total_ms for r in ok if r.total_ms is not None], 95),
                "ttft_ms_p50": _stat([r.ttft_ms for r in ok if r.ttft_ms is not None], 50),
                "ttft_ms_p95": _stat([r.ttft_ms for r in ok if r.ttft_ms is not None], 95),
                "tokens_per_s_p50": _stat([r.tokens_per_s for r in ok if r.tokens_per_s], 50),
                "prompt_tokens_mean": round(sum(r.prompt_tokens for r in ok) / len(ok), 1) if ok else None,
                "completion_tokens_mean": round(sum(r.completion_tokens for r in ok) / len(ok), 1) if ok else None,
                "correct": _share([r.scores.get("correct") for r in ok]),
                "leaked": _share([r.scores.get("leaked") for r in ok]),
                "in_language": _share([r.scores.get("in_language") for r in ok]),
                "json_valid": _share([r.scores.get("json_valid") for r in ok]),
                "checks_passed": _share([r.scores.get("checks_passed") for r in ok]),
                "check_failures": _failures(ok),
                "agreement_p50": round(pct(agreement, 50), 3) if agreement else None,
                "cost_basis": "API prices" if api else f"machine time ({settings.cost.tier})",
                "cost_usd": round(api_usd, 6),
                "krw_per_1000": round(krw * 1000 / len(ok), 1) if ok else None,
            }
        )
    return {**head, "providers": providers, "results": [_row(r) for r in results]}


def _row(r: CompareResult) -> dict[str, Any]:
    return {
        "provider": f"{r.provider}/{r.model}",
        "question_id": r.question_id,
        "error": r.error,
        "ttft_ms": r.ttft_ms,
        "total_ms": r.total_ms,
        "tokens_per_s": r.tokens_per_s,
        "completion_tokens": r.completion_tokens,
        **r.scores,
    }


def latest(db: Database, route: str | None = None) -> int | None:
    """Id of the newest finished run (of a route)."""
    with db.session() as s:
        q = select(CompareRun.id).where(CompareRun.status == "done")
        if route:
            q = q.where(CompareRun.route == route)
        return s.scalar(q.order_by(CompareRun.id.desc()).limit(1))
