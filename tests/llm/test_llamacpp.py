from __future__ import annotations

import asyncio
import json
import threading

import pytest

from jindan.llm.base import ChatMessage, Delta, GenOptions, ProviderUnavailable, Usage, collect
from jindan.llm.llamacpp import LlamaCppProvider

SYSTEM = ChatMessage("system", "You are a concise math tutor. Answer in one sentence. " * 4)


def test_real_generation_streams_text_and_usage(smol: LlamaCppProvider) -> None:
    async def run() -> list[object]:
        return [e async for e in smol.stream([SYSTEM, ChatMessage("user", "What is 2+2?")], GenOptions(max_tokens=24))]

    events = asyncio.run(run())
    deltas = [e for e in events if isinstance(e, Delta)]
    assert len(deltas) >= 2, "streaming yields several pieces"
    assert isinstance(events[-1], Usage) and sum(isinstance(e, Usage) for e in events) == 1
    usage = events[-1]
    assert usage.provider == "llamacpp" and usage.prompt_tokens > 20
    assert 0 < usage.completion_tokens <= 24
    assert 0 < usage.ttft_ms <= usage.total_ms and usage.decode_tokens_per_s > 0


def test_system_prefix_is_reused_from_the_kv_cache(smol: LlamaCppProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second request with the same system prompt evaluates only the tokens after the shared prefix."""
    llm = smol.load()
    evaluated: list[int] = []
    real_eval = llm.eval

    def counting_eval(tokens):  # type: ignore[no-untyped-def]
        evaluated.append(len(tokens))
        return real_eval(tokens)

    monkeypatch.setattr(llm, "eval", counting_eval)

    def run(q: str) -> int:
        evaluated.clear()
        _, usage = asyncio.run(collect(smol.stream([SYSTEM, ChatMessage("user", q)], GenOptions(max_tokens=1))))
        assert usage is not None
        return evaluated[0]

    run("Name a prime.")
    prompt_eval_second = run("Name an even number.")
    system_tokens = len(llm.tokenize(SYSTEM.content.encode(), add_bos=False))
    assert prompt_eval_second < system_tokens, (prompt_eval_second, system_tokens)


def test_json_schema_output(smol: LlamaCppProvider) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}, "reason": {"type": "string", "maxLength": 60}},
        "required": ["answer", "reason"],
    }
    text, _ = asyncio.run(  # the grammar bounds the answer, so 200 tokens always hold the whole object
        collect(
            smol.stream(
                [ChatMessage("user", "What is 3+4? Reply in JSON.")],
                GenOptions(temperature=0.0, max_tokens=200, json_schema=schema),
            )
        )
    )
    data = json.loads(text)
    assert isinstance(data["answer"], int) and isinstance(data["reason"], str)


def test_missing_model_file_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderUnavailable, match="JINDAN_LLAMACPP__MODEL_PATH"):
        LlamaCppProvider(tmp_path / "nope.gguf")


def test_early_close_stops_generation(smol: LlamaCppProvider) -> None:
    async def run() -> str:
        stream = smol.stream([ChatMessage("user", "Count from 1 to 100.")], GenOptions(max_tokens=200))
        first = await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        assert isinstance(first, Delta)
        # the model is free again: a new request completes
        text, _ = await collect(smol.stream([ChatMessage("user", "Say hi.")], GenOptions(max_tokens=5)))
        return text

    assert asyncio.run(run())


def test_close_ends_the_worker_thread_and_a_later_use_starts_a_new_one(smol: LlamaCppProvider) -> None:
    provider = LlamaCppProvider(model_path=smol.path, n_ctx=512)  # its own model and worker: closed below
    ask = [ChatMessage("user", "Name a prime.")]
    asyncio.run(collect(provider.stream(ask, GenOptions(max_tokens=1))))
    worker = next(t for t in threading.enumerate() if t.ident == provider._worker.submit(threading.get_ident).result())
    asyncio.run(provider.aclose())
    worker.join(timeout=10)
    assert not worker.is_alive(), "the model's worker thread outlived close"
    _, usage = asyncio.run(collect(provider.stream(ask, GenOptions(max_tokens=1))))
    assert usage is not None and usage.completion_tokens == 1
    asyncio.run(provider.aclose())
