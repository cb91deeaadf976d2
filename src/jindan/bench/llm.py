"""`jindan bench llm`: our provider path against raw llama-cpp-python, same model, same prompts, one run.

Both paths use the same loaded model on the same thread (llama.cpp's OpenMP team is per calling thread;
alternating threads would make them fight over the cores); the KV cache is reset before every measured
generation so neither path profits from the other's prompt. Greedy decoding makes both generate the same tokens.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from jindan.bench.stats import pct
from jindan.llm.base import ChatMessage, Delta, GenOptions, Usage
from jindan.llm.llamacpp import LlamaCppProvider
from jindan.llm.router import Router
from jindan.settings import Settings

SYSTEM = "You are a patient math tutor for middle-school students. Explain step by step, briefly."
PROMPTS = [
    "What is a prime number?",
    "How do I add two fractions with different denominators?",
    "Explain the Pythagorean theorem with an example.",
    "What is the slope of the line through (1, 2) and (3, 6)?",
    "Why is any number to the power zero equal to one?",
    "How do I solve 2x + 3 = 11?",
    "What is the difference between mean and median?",
    "How many degrees are in the interior angles of a hexagon?",
]


def _messages(prompt: str) -> list[ChatMessage]:
    return [ChatMessage("system", SYSTEM), ChatMessage("user", prompt)]


def _raw(llm: Any, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    """(ttft_ms, total_ms, tokens) straight from llama-cpp-python's streaming chat API."""
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    stream = llm.create_chat_completion(
        messages=[{"role": m.role, "content": m.content} for m in _messages(prompt)],
        temperature=0.0,
        max_tokens=max_tokens,
        stream=True,
    )
    for chunk in stream:
        if chunk["choices"][0]["delta"].get("content"):
            tokens += 1
            first = first or time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000, tokens


async def _ours(router: Router, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    """The same measurement taken by the caller around our router + provider stream."""
    start = time.perf_counter()
    first: float | None = None
    tokens = 0
    usage: Usage | None = None
    async for event in router.stream("chat", _messages(prompt), GenOptions(temperature=0.0, max_tokens=max_tokens)):
        if isinstance(event, Delta):
            tokens += 1
            first = first or time.perf_counter()
        elif isinstance(event, Usage):
            usage = event
    end = time.perf_counter()
    assert usage is not None
    return ((first or end) - start) * 1000, (end - start) * 1000, tokens


def _rate(samples: list[tuple[float, float, int]]) -> float:
    tokens = sum(max(n - 1, 0) for _, _, n in samples)
    decode_s = sum((total - ttft) / 1000 for ttft, total, _ in samples)
    return tokens / decode_s if decode_s else 0.0


def _side(samples: list[tuple[float, float, int]]) -> dict[str, float]:
    ttft = [s[0] for s in samples]
    return {
        "ttft_ms_p50": round(pct(ttft, 50), 2),
        "ttft_ms_p95": round(pct(ttft, 95), 2),
        "total_ms_p50": round(pct([s[1] for s in samples], 50), 2),
        "tokens_per_s": round(_rate(samples), 2),
        "tokens": sum(s[2] for s in samples),
    }


def run(
    settings: Settings,
    *,
    rounds: int = 2,
    max_tokens: int = 64,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    provider = LlamaCppProvider.from_settings(settings)
    router = Router(
        settings.model_copy(update={"llm": settings.llm.model_copy(update={"routes": {"chat": ["llamacpp"]}})}),
        {"llamacpp": provider},
    )
    ours: list[tuple[float, float, int]] = []
    raw: list[tuple[float, float, int]] = []

    async def measure() -> None:
        llm = await provider.on_worker(provider.load)
        await _ours(router, "Say hello.", 8)  # warm-up both paths once
        llm.reset()
        await provider.on_worker(_raw, llm, "Say hello.", 8)
        for r in range(rounds):
            for i, prompt in enumerate(PROMPTS):
                order = (0, 1) if (i + r) % 2 == 0 else (1, 0)  # alternate who goes first
                for side in order:
                    llm.reset()
                    if side == 0:
                        ours.append(await _ours(router, prompt, max_tokens))
                    else:
                        # raw llama-cpp-python on the same thread as ours: one OpenMP team for both
                        raw.append(await provider.on_worker(_raw, llm, prompt, max_tokens))
                if progress:
                    progress(1)

    asyncio.run(measure())
    o, w = _side(ours), _side(raw)
    return {
        "model": provider.model,
        "threads": provider.n_threads,
        "prompts": len(PROMPTS) * rounds,
        "max_tokens": max_tokens,
        "ours": o,
        "raw": w,
        "tokens_per_s_ratio": round(o["tokens_per_s"] / w["tokens_per_s"], 3) if w["tokens_per_s"] else 0.0,
        "ttft_overhead_ms_p50": round(o["ttft_ms_p50"] - w["ttft_ms_p50"], 2),
    }
