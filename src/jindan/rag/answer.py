"""explain / hint / ask: retrieve, build a grounded prompt, stream the answer with its sources.

Event order: ``Sources`` (what the model was given and what was cut), the router's events (``Started``,
``Delta``..., ``Usage`` or ``StreamError``), then ``Cited`` (which sources the answer actually referred to).
``Sources`` is yielded before the model is asked, and ``open_stream`` lets a server send it at once while a
request that fails at once (not found, too long, every provider down or busy) still becomes an HTTP status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.llm.base import Delta, GenOptions
from jindan.llm.catalog import context_length
from jindan.llm.router import Router, RouterEvent
from jindan.rag import prompt
from jindan.rag.prompt import Citation
from jindan.rag.retrieve import Found, NotFound, Retriever
from jindan.settings import Settings


@dataclass(frozen=True)
class Sources:
    citations: list[Citation]
    cut: list[Citation]
    prompt_tokens: int
    budget: int


@dataclass(frozen=True)
class Cited:
    citations: list[Citation]


RagEvent = Sources | RouterEvent | Cited
MAX_STUDENT_TEXT = 4000
ROUTE = {"explain": "explain", "hint": "hint", "ask": "chat"}  # task -> router route
SOURCES_GRACE_S = 0.1  # how long open_stream waits after Sources for a failure that comes at once


async def open_stream(
    events: AsyncIterator[RagEvent], grace_s: float = SOURCES_GRACE_S
) -> tuple[list[RagEvent], AsyncIterator[RagEvent]]:
    """Pull the head of an answer before anything is sent: up to ``Sources``, then at most ``grace_s`` more
    for the next event. Errors raised by then propagate (so they become an HTTP status); after that the head
    goes out without waiting for the model's first token, and a later failure arrives in the stream."""
    it = events.__aiter__()
    head: list[RagEvent] = []
    try:
        head.append(await it.__anext__())
    except StopAsyncIteration:
        return head, _empty()
    if not isinstance(head[0], Sources):
        return head, it
    nxt: asyncio.Future[RagEvent] = asyncio.ensure_future(it.__anext__())
    done, _ = await asyncio.wait({nxt}, timeout=grace_s)
    if not done:
        return head, _After(nxt, it)
    try:
        head.append(nxt.result())
    except StopAsyncIteration:
        return head, _empty()
    return head, it


async def _empty() -> AsyncIterator[RagEvent]:
    return
    yield  # an async generator that yields nothing


class _After:
    """The rest of an answer whose next event is still being pulled; closing it cancels that pull too (even
    before the first ``__anext__``, e.g. when the client left while the model was still reading the prompt)."""

    def __init__(self, pending: asyncio.Future[RagEvent], rest: AsyncIterator[RagEvent]) -> None:
        self._pending: asyncio.Future[RagEvent] | None = pending
        self._rest = rest

    def __aiter__(self) -> _After:
        return self

    async def __anext__(self) -> RagEvent:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return await pending  # StopAsyncIteration included
        return await self._rest.__anext__()

    async def aclose(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.cancel()
            await asyncio.wait({pending})  # the generator must be idle before it can be closed
        close: Any = getattr(self._rest, "aclose", None)
        if close is not None:
            await close()


def context_window(settings: Settings) -> int:
    """The context the configured primary model gets (what the prompt must fit in)."""
    provider = settings.llm.provider
    if provider == "llamacpp":
        return settings.llamacpp.n_ctx
    if provider == "ollama":
        return settings.ollama.num_ctx or context_length(settings.llm.model)
    return context_length(settings.llm.model, cap=32768)


def _target(q: Question, with_solution: bool) -> str:
    lines = [q.body]
    if q.choices:
        lines += [f"({i + 1}) {c}" for i, c in enumerate(q.choices)]
    if with_solution and q.explanation:
        lines.append(f"Official solution: {q.explanation[: prompt.MAX_ITEM_CHARS]}")
    if with_solution and q.answer:
        lines.append(f"Answer: {q.answer}")
    return "\n".join(lines)


class RagService:
    def __init__(self, settings: Settings, db: Database, retriever: Retriever, router: Router) -> None:
        self.settings, self.db, self.retriever, self.router = settings, db, retriever, router
        self.window = context_window(settings)
        self.fits = dict(prompt.FITS)  # how much retrieved context each task gets (`jindan bench context` varies it)

    async def explain(self, question_id: int, k: int = 4) -> AsyncIterator[RagEvent]:
        p = await self.build_prompt("explain", question_id, None, k)
        async for ev in self._answer("explain", p):
            yield ev

    async def hint(self, question_id: int, student_answer: str | None = None, k: int = 3) -> AsyncIterator[RagEvent]:
        p = await self.build_prompt("hint", question_id, student_answer, k)
        async for ev in self._answer("hint", p):
            yield ev

    async def ask(self, text: str, k: int = 4) -> AsyncIterator[RagEvent]:
        _check(text)
        context = await asyncio.to_thread(self._context, None, text, k)
        async for ev in self._answer("ask", self._build("ask", "(see the student's question below)", context, text)):
            yield ev

    async def warm(self, question_id: int, tasks: tuple[str, ...] = ("hint", "explain")) -> int:
        """Compute the prompt-prefix states of a question's hint and explanation before students ask (only a
        provider with a prefix cache of its own keeps them: llama.cpp). Returns how many were new."""
        new = 0
        for task in tasks:
            p = await self.build_prompt(task, question_id)
            provider = self.router.provider(self.router.chain(ROUTE[task])[0])
            warm = getattr(provider, "warm", None)
            if warm is None:
                raise ValueError(f"{provider.name} keeps no prefix states of its own; only llamacpp can be warmed")
            new += bool(await warm(p.messages))
        return new

    async def build_prompt(
        self, task: str, question_id: int, student_text: str | None = None, k: int | None = None
    ) -> prompt.Prompt:
        """The grounded prompt of a hint or an explanation of a bank question (what ``hint``/``explain`` send)."""
        k = k or (3 if task == "hint" else 4)
        _check(student_text)
        q = self._question(question_id)
        context = await asyncio.to_thread(self._context, question_id, None, k)
        return self._build(task, _target(q, with_solution=task == "explain"), context, student_text)

    def _build(self, task: str, target: str, context: list[Found], student_text: str | None) -> prompt.Prompt:
        return prompt.build(
            task,
            self.settings.language,
            target,
            context,
            context_window=self.window,
            max_tokens=self.settings.llm.max_tokens,
            student_text=student_text,
            count=self.router.token_counter(ROUTE[task]) or prompt.estimate_tokens,
            fit=self.fits.get(task),
        )

    def _question(self, question_id: int) -> Question:
        with self.db.session() as s:
            q = s.get(Question, question_id)
            if q is None:
                raise NotFound(f"question {question_id} not found")
            s.expunge(q)
            return q

    def _context(self, question_id: int | None, text: str | None, k: int) -> list[Found]:
        if question_id is not None:
            found = self.retriever.similar_to(question_id, k)
            vector = self.retriever.store.retrieve(self.retriever.alias, [question_id], with_vectors=True)
            qvec = vector[0].vector if vector else None
        else:
            qvec = self.retriever.query_vector(text or "")
            found = self.retriever.questions_near(qvec, k, text=text)
        materials = self.retriever.materials(qvec, k=2) if qvec is not None and qvec.size else []
        return materials + found  # a curated passage first: it is written to teach

    async def _answer(self, task: str, p: prompt.Prompt) -> AsyncIterator[RagEvent]:
        yield Sources(p.citations, p.cut, p.tokens, p.budget)
        parts: list[str] = []
        opts = GenOptions(temperature=self.settings.llm.temperature, max_tokens=self.settings.llm.max_tokens)
        async for ev in self.router.stream(ROUTE[task], p.messages, opts):
            if isinstance(ev, Delta):
                parts.append(ev.text)
            yield ev
        yield Cited(prompt.cited("".join(parts), p.citations))


def _check(student_text: str | None) -> None:
    if student_text is not None and len(student_text) > MAX_STUDENT_TEXT:
        raise ValueError(f"student text is {len(student_text)} characters; the limit is {MAX_STUDENT_TEXT}")
