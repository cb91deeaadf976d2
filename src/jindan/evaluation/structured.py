"""`jindan eval structured`: how often a schema answer completes, and validates, on the bank's questions.

Each drawn question is asked for a short JSON answer (``Solved``: the answer, one sentence why, a difficulty
from 1 to 5) through the router with the schema as ``json_schema``, exactly what a client's
``response_format={"type": "json_schema", ...}`` becomes on the gateway. Per answer: did it end by itself
(``finish_reason`` "stop") and parse as JSON (``completion_rate``), and does it validate against the schema
(``validation_rate``, pydantic in strict mode). A cut answer (``length``) is never counted as complete, even
when its text happens to parse. Counts and timings only: no student text is involved.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from jindan.bench.stats import pct
from jindan.llm.base import ChatMessage, Delta, GenOptions, Usage
from jindan.llm.router import RouterEvent, StreamError

EXAMPLES = 5
SYSTEM = "수학 문제를 풀고 JSON으로만 답하세요. answer: 최종 답, reason: 한 문장 풀이, difficulty: 난이도 1-5."


class Solved(BaseModel):
    """The schema asked for: short on purpose (a grading or extraction call's size)."""

    answer: str = Field(description="the final answer")
    reason: str = Field(description="why, in one sentence")
    difficulty: int = Field(ge=1, le=5, description="1 (easy) to 5 (hard)")


SCHEMA: dict[str, Any] = Solved.model_json_schema()


@dataclass(frozen=True)
class Outcome:
    finish_reason: str  # stop | length | tool_calls | broken | none
    parsed: bool
    valid: bool
    total_ms: float
    completion_tokens: int
    text: str

    @property
    def complete(self) -> bool:
        """Ended by itself and parses: what a client may take as a whole answer."""
        return self.finish_reason == "stop" and self.parsed


def questions(bank: Path, n: int, seed: int) -> list[str]:
    """``n`` question texts (with their choices) drawn from a JSONL bank with ``seed``."""
    rows = [json.loads(line) for line in bank.open(encoding="utf-8") if line.strip()]
    texts = []
    for row in rows:
        body = str(row.get("body") or row.get("question") or "").strip()
        choices = row.get("choices") or []
        if body:
            texts.append(body + "".join(f"\n{i}) {c}" for i, c in enumerate(choices, 1)))
    if not texts:
        raise ValueError(f"no questions in {bank}")
    return random.Random(seed).sample(texts, min(n, len(texts)))


def judge(text: str, usage: Usage | None, broken: bool, elapsed_ms: float) -> Outcome:
    reason = "broken" if broken else (usage.finish_reason if usage and usage.finish_reason else "none")
    try:
        json.loads(text)
        parsed = True
    except ValueError:
        parsed = False
    try:
        Solved.model_validate_json(text, strict=True)
        valid = parsed and reason == "stop"  # a cut answer never passes, even when it parses
    except ValidationError:
        valid = False
    tokens = usage.completion_tokens if usage else 0
    return Outcome(reason, parsed, valid, elapsed_ms, tokens, text)


async def ask(
    stream: Callable[[str, list[ChatMessage], GenOptions], AsyncIterator[RouterEvent]],
    route: str,
    question: str,
    max_tokens: int,
    mode: str = "schema",
) -> Outcome:
    """One question. ``mode`` "schema": the schema as ``json_schema`` (``response_format``); "prompt": the same
    schema only spelled out in the system prompt, no constraint (what a client gets without structured output)."""
    system = SYSTEM if mode == "schema" else f"{SYSTEM}\nJSON Schema: {json.dumps(SCHEMA, ensure_ascii=False)}"
    messages = [ChatMessage("system", system), ChatMessage("user", question)]
    schema = SCHEMA if mode == "schema" else None
    opts = GenOptions(temperature=0.0, max_tokens=max_tokens, json_schema=schema, seed=0)
    start = time.perf_counter()
    parts: list[str] = []
    usage: Usage | None = None
    broken = False
    async for event in stream(route, messages, opts):
        if isinstance(event, Delta):
            parts.append(event.text)
        elif isinstance(event, Usage):
            usage = event
        elif isinstance(event, StreamError):
            broken = True
    return judge("".join(parts), usage, broken, (time.perf_counter() - start) * 1000)


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    n = len(outcomes)

    def rate(values: list[bool]) -> float | None:
        return round(sum(values) / n, 3) if n else None

    return {
        "answers": n,
        "completion_rate": rate([o.complete for o in outcomes]),
        "validation_rate": rate([o.valid for o in outcomes]),
        "parsed_rate": rate([o.parsed for o in outcomes]),
        "finish_reasons": dict(Counter(o.finish_reason for o in outcomes).most_common()),
        "total_ms_p50": round(pct([o.total_ms for o in outcomes], 50), 1),
        "completion_tokens_p50": round(pct([float(o.completion_tokens) for o in outcomes], 50), 1),
        "examples": [
            {"finish_reason": o.finish_reason, "parsed": o.parsed, "text": o.text[:200]}
            for o in outcomes
            if not o.valid
        ][:EXAMPLES],
    }
