"""explain / hint / ask: retrieve, build a grounded prompt, stream the checked answer with its sources.

Event order: ``Sources`` (what the model was given and what was cut), then the answer gate's events
(``answers.gate``): the router's ``Started`` when the model is asked, ``Answering`` (where the text that follows
comes from: the model, or the bank when the model's answer failed the checks or no model could answer), the
``Delta`` pieces the student reads, the model's ``Usage``, and ``Checked`` (the verdicts); then ``Cited``
(which sources the shown answer referred to). The prompt and the checks are in the question's language.
``Sources`` is yielded before the model is asked, and ``open_stream`` lets a server send it at once while a
request that fails at once (not found, bad input) still becomes an HTTP status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from jindan.answers import ladder
from jindan.answers.checks import Case, Verdict
from jindan.answers.gate import Answering, AnswerObserver, Gate, GateEvent
from jindan.answers.text import copied, language_of
from jindan.db.engine import Database
from jindan.db.models import Question
from jindan.llm.base import Delta, GenOptions, ProviderError
from jindan.llm.catalog import cannot_write, context_length
from jindan.llm.router import Router
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


RagEvent = Sources | GateEvent | Cited
MAX_STUDENT_TEXT = 4000
ROUTE = {"explain": "explain", "hint": "hint", "ask": "chat"}  # task -> router route
ANCHOR = 0.8  # a free question that holds this much of a bank question is about it (its key applies)
LANGUAGES = {"ko": "Korean", "en": "English"}
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
    lines = [_shown(q)]
    if with_solution and q.explanation:
        lines.append(f"Official solution: {q.explanation[: prompt.MAX_ITEM_CHARS]}")
    if with_solution and q.answer:
        lines.append(f"Answer: {q.answer}")
    return "\n".join(lines)


def _shown(q: Question) -> str:
    """The question as the student sees it: its body and its choices."""
    return "\n".join([q.body, *(f"({i + 1}) {c}" for i, c in enumerate(q.choices or []))])


def _item(f: Found) -> str:
    return f"{f.text}\n{f.explanation or ''}\n{f.answer or ''}"


class RagService:
    def __init__(self, settings: Settings, db: Database, retriever: Retriever, router: Router) -> None:
        self.settings, self.db, self.retriever, self.router = settings, db, retriever, router
        self.window = context_window(settings)
        self.fits = dict(prompt.FITS)  # how much retrieved context each task gets (`jindan bench context` varies it)
        self.observer: AnswerObserver | None = None  # told about every judged answer (metrics, daily counts)
        self.force_model = False  # ask the model even where the catalog says it cannot write the language (eval)

    async def explain(self, question_id: int, k: int = 4) -> AsyncIterator[RagEvent]:
        q = self._question(question_id)
        async for ev in self._grounded("explain", q, None, k, lambda case, _: ladder.explanation(case)):
            yield ev

    async def hint(
        self, question_id: int, student_answer: str | None = None, k: int = 3, level: int | None = None
    ) -> AsyncIterator[RagEvent]:
        """One hint: the model's if it passes the checks, else the bank's ladder at ``level`` (1: the concept,
        2: the first step, 3 on: the next steps; raised to what the student's text already holds)."""
        _check(student_answer)
        q = self._question(question_id)

        def bank(case: Case, context: list[Found]) -> ladder.BankAnswer:
            neighbours = [
                ladder.Neighbour(f.id, f.explanation, tuple(f.concepts))
                for f in context
                if f.kind == "question" and f.explanation
            ]
            return ladder.hint(case, level or 1, neighbours)

        async for ev in self._grounded("hint", q, student_answer, k, bank):
            yield ev

    async def ask(self, text: str, k: int = 4) -> AsyncIterator[RagEvent]:
        _check(text)
        language = language_of(text, self.settings.language)
        context = await asyncio.to_thread(self._context, None, text, k)
        anchor = next((f for f in context if f.kind == "question" and copied(text, f.text) >= ANCHOR), None)
        case = Case(
            "ask",
            language,
            question=text,
            key=anchor.answer if anchor else None,
            explanation=anchor.explanation if anchor else None,
            concepts=tuple(anchor.concepts) if anchor else (),
            context=tuple(_item(f) for f in context if f is not anchor),
            prompt=prompt.instructions("ask", language),
        )

        def bank() -> ladder.BankAnswer:
            if anchor is not None and anchor.explanation:
                return ladder.explanation(case)
            return ladder.nearest(case, [(f.id, f.title) for f in context if f.kind == "question"][:3])

        try:
            p: prompt.Prompt | None = self._build("ask", "(see the student's question below)", context, text, language)
        except prompt.PromptTooLong as exc:
            p = None
            why: Verdict | None = Verdict("answered", False, str(exc))
        else:
            why = None
        question_id = anchor.id if anchor is not None and isinstance(anchor.id, int) else None
        async for ev in self._answer("ask", p, case, bank, why, question_id):
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
        q, _ = self._question(question_id)
        context = await asyncio.to_thread(self._context, question_id, None, k)
        language = language_of(q.body, self.settings.language)
        return self._build(task, _target(q, with_solution=task == "explain"), context, student_text, language)

    def _build(
        self, task: str, target: str, context: list[Found], student_text: str | None, language: str
    ) -> prompt.Prompt:
        return prompt.build(
            task,
            language,
            target,
            context,
            context_window=self.window,
            max_tokens=self.settings.llm.max_tokens,
            student_text=student_text,
            count=self.router.token_counter(ROUTE[task]) or prompt.estimate_tokens,
            fit=self.fits.get(task),
        )

    def _question(self, question_id: int) -> tuple[Question, tuple[str, ...]]:
        """The question (detached) and its concepts' names."""
        with self.db.session() as s:
            q = s.get(Question, question_id)
            if q is None:
                raise NotFound(f"question {question_id} not found")
            concepts = tuple(c.name for c in q.concepts)
            s.expunge(q)
            return q, concepts

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

    async def _grounded(
        self,
        task: str,
        question: tuple[Question, tuple[str, ...]],
        student_text: str | None,
        k: int,
        bank: Callable[[Case, list[Found]], ladder.BankAnswer],
    ) -> AsyncIterator[RagEvent]:
        """A hint or an explanation of a bank question: the grounded prompt, the model, the checks, the bank."""
        q, concepts = question
        language = language_of(q.body, self.settings.language)
        context = await asyncio.to_thread(self._context, q.id, None, k)
        case = Case(
            task,
            language,
            question=_shown(q),
            key=q.answer,
            explanation=q.explanation,
            concepts=concepts,
            student=student_text,
            context=tuple(_item(f) for f in context),
            prompt=prompt.instructions(task, language),
            choices=tuple(q.choices or ()),
        )
        why: Verdict | None = None
        p: prompt.Prompt | None = None
        try:
            p = self._build(task, _target(q, with_solution=task == "explain"), context, student_text, language)
        except prompt.PromptTooLong as exc:
            why = Verdict("answered", False, str(exc))
        async for ev in self._answer(task, p, case, lambda: bank(case, context), why, q.id):
            yield ev

    def _primary(self, task: str) -> tuple[str, str]:
        """(provider, model) that answers ``task`` first; ("", "") when it cannot be built."""
        name = self.router.chain(ROUTE[task])[0]
        try:
            return name, self.router.provider(name).model
        except ProviderError:
            return name, ""

    def _not_asked(self, task: str, language: str, model: str) -> tuple[bool, Verdict | None]:
        """(ask the model?, why not as the model's failed check). A route set to `bank` does not ask, and
        neither does one whose model the catalog knows cannot write the question's language."""
        if self.settings.answers.source.get(task, "auto") == "bank":  # type: ignore[call-overload]
            return False, None
        if self.force_model or not self.settings.answers.skip_unfit_model:
            return True, None
        if cannot_write(model, language):
            return False, Verdict("language", False, f"{model} cannot write {LANGUAGES.get(language, language)}")
        return True, None

    async def _answer(
        self,
        task: str,
        p: prompt.Prompt | None,
        case: Case,
        bank: Callable[[], ladder.BankAnswer],
        why: Verdict | None,
        question_id: int | None,
    ) -> AsyncIterator[RagEvent]:
        yield Sources(p.citations, p.cut, p.tokens, p.budget) if p else Sources([], [], 0, 0)
        labels = self._primary(task)
        ask, not_asked = (False, why) if p is None else self._not_asked(task, case.language, labels[1])
        answers = self.settings.answers
        hold = answers.hold_hints if task == "hint" else answers.hold_explanations
        gate = Gate(ROUTE[task], case, bank, hold, self.observer, labels, question_id)
        events = None
        if ask and p is not None:
            limit = self.settings.answers.hint_max_tokens if task == "hint" else self.settings.llm.max_tokens
            opts = GenOptions(temperature=self.settings.llm.temperature, max_tokens=limit)
            events = self.router.stream(ROUTE[task], p.messages, opts)
        parts: list[str] = []
        async for ev in gate.run(events, not_asked):
            if isinstance(ev, Answering):
                parts = []
            elif isinstance(ev, Delta):
                parts.append(ev.text)
            yield ev
        yield Cited(prompt.cited("".join(parts), p.citations) if p else [])


def _check(student_text: str | None) -> None:
    if student_text is not None and len(student_text) > MAX_STUDENT_TEXT:
        raise ValueError(f"student text is {len(student_text)} characters; the limit is {MAX_STUDENT_TEXT}")
