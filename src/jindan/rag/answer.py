"""explain / hint / ask: retrieve, build a grounded prompt, stream the answer with its sources.

Event order: ``Sources`` (what the model was given and what was cut), the router's events (``Started``,
``Delta``..., ``Usage`` or ``StreamError``), then ``Cited`` (which sources the answer actually referred to).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

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

    async def explain(self, question_id: int, k: int = 4) -> AsyncIterator[RagEvent]:
        q = self._question(question_id)
        context = await asyncio.to_thread(self._context, question_id, None, k)
        async for ev in self._answer("explain", _target(q, with_solution=True), context, None):
            yield ev

    async def hint(self, question_id: int, student_answer: str | None = None, k: int = 3) -> AsyncIterator[RagEvent]:
        q = self._question(question_id)
        context = await asyncio.to_thread(self._context, question_id, None, k)
        async for ev in self._answer("hint", _target(q, with_solution=False), context, student_answer):
            yield ev

    async def ask(self, text: str, k: int = 4) -> AsyncIterator[RagEvent]:
        context = await asyncio.to_thread(self._context, None, text, k)
        async for ev in self._answer("ask", "(see the student's question below)", context, text):
            yield ev

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

    async def _answer(
        self, task: str, target: str, context: list[Found], student_text: str | None
    ) -> AsyncIterator[RagEvent]:
        if student_text is not None and len(student_text) > MAX_STUDENT_TEXT:
            raise ValueError(f"student text is {len(student_text)} characters; the limit is {MAX_STUDENT_TEXT}")
        max_tokens = self.settings.llm.max_tokens
        route = {"explain": "explain", "hint": "hint"}.get(task, "chat")
        p = prompt.build(
            task,
            self.settings.language,
            target,
            context,
            context_window=self.window,
            max_tokens=max_tokens,
            student_text=student_text,
            count=self.router.token_counter(route) or prompt.estimate_tokens,
        )
        yield Sources(p.citations, p.cut, p.tokens, p.budget)
        parts: list[str] = []
        opts = GenOptions(temperature=self.settings.llm.temperature, max_tokens=max_tokens)
        async for ev in self.router.stream(route, p.messages, opts, student_text=student_text is not None):
            if isinstance(ev, Delta):
                parts.append(ev.text)
            yield ev
        yield Cited(prompt.cited("".join(parts), p.citations))
