"""Similar questions and grounded answers (explain, hint, ask) over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from jindan.api.deps import MAX_ID, StackDep, require
from jindan.api.schemas import ERRORS, NO_NUL, Text, Written
from jindan.api.sse import respond
from jindan.rag.answer import RagEvent, open_stream
from jindan.rag.retrieve import Found, Practice, SearchFilters

router = APIRouter(tags=["search"], responses=ERRORS)
QuestionId = Annotated[int, Path(ge=1, le=MAX_ID, description="The question's id in jindan.")]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


IntentName = Literal["find", "similar"]


class FoundOut(BaseModel):
    intent: IntentName = Field(description="The intent that ranked this result (also the X-Search-Intent header).")
    id: int | str
    kind: str
    score: float
    title: str
    text: str
    subject: str | None = None
    level: int | None = None
    concepts: list[str] = []
    subject_confidence: float | None = Field(
        None, description="Intent similar by text: how likely this result's subject is the problem's (0-1)."
    )


class FiltersIn(BaseModel):
    subject: Text | None = Field(None, max_length=200)
    level_min: int | None = Field(None, ge=0, le=100)
    level_max: int | None = Field(None, ge=0, le=100)
    concepts: list[Text] = Field(default_factory=list, max_length=50)
    exclude_ids: list[Id] = Field(default_factory=list, max_length=1000)


class SearchIn(BaseModel):
    text: Written = Field(min_length=1, max_length=10_000)
    k: int = Field(10, ge=1, le=100)
    filters: FiltersIn = Field(default_factory=FiltersIn)
    intent: IntentName = Field(
        "find",
        description="find: the question the student typed or pasted, its closest match first; "
        "similar: practice questions like it (same concept or subject), the question itself excluded.",
    )


def _out(found: list[Found], intent: IntentName, response: Response) -> list[FoundOut]:
    response.headers["X-Search-Intent"] = intent
    return [
        FoundOut(
            intent=intent,
            id=f.id,
            kind=f.kind,
            score=f.score,
            title=f.title,
            text=f.text,
            subject=f.subject,
            level=f.level,
            concepts=f.concepts,
            subject_confidence=f.subject_confidence,
        )
        for f in found
    ]


class TopicOut(BaseModel):
    subject: str
    confidence: float = Field(description="How likely the problem is on this subject (0-1).")


class PracticeIn(BaseModel):
    text: Written = Field(min_length=1, max_length=10_000, description="The problem the student typed or pasted.")
    k: int = Field(10, ge=1, le=100)
    subject: Text | None = Field(
        None,
        max_length=200,
        description="The topic the student picked instead of the inferred one (a subject of the bank; "
        "an unknown one is a 404 naming the bank's subjects; empty: none picked).",
    )
    level_min: int | None = Field(None, ge=0, le=100)
    level_max: int | None = Field(None, ge=0, le=100)


class PracticeOut(BaseModel):
    subject: str | None = Field(description="The subject the results are on (null: the bank has no subjects).")
    subject_confidence: float | None = Field(
        description="How likely the problem is on that subject (1.0 for the bank's own copy of the problem; for a "
        "subject the student picked, how likely the text itself is on it)."
    )
    uncertain: bool = Field(description="The subject is a guess: show the topics and let the student pick one.")
    source: Literal["anchor", "inferred", "neighbours", "chosen"] | None = Field(
        description="anchor: the bank holds this problem; inferred: from its text; neighbours: from the nearest "
        "questions (no topic model yet); chosen: the subject asked for."
    )
    topics: list[TopicOut] = Field(description="Every subject it could be on, most likely first.")
    clues: list[str] = Field(
        default_factory=list,
        description="The curriculum's words for that subject found in the problem (why it looks like that "
        "topic; empty when none was, or the subject was not inferred).",
    )
    results: list[FoundOut]


def _practice(practice: Practice, response: Response) -> PracticeOut:
    t = practice.topic
    return PracticeOut(
        subject=t.subject if t else None,
        subject_confidence=t.confidence if t else None,
        uncertain=t.uncertain if t else False,
        source=t.source if t else None,
        topics=[TopicOut(subject=s, confidence=c) for s, c in (t.scores if t else ())],
        clues=list(t.clues) if t else [],
        results=_out(practice.found, "similar", response),
    )


@router.get("/questions/{question_id}/similar", response_model=list[FoundOut], dependencies=[require("search")])
async def similar(
    question_id: QuestionId,
    stack: StackDep,
    response: Response,
    k: int = Query(10, ge=1, le=100),
    subject: str | None = Query(None, max_length=200, pattern=NO_NUL),
    level_min: int | None = Query(None, ge=0, le=100),
    level_max: int | None = Query(None, ge=0, le=100),
    concept: list[Annotated[str, Field(max_length=200, pattern=NO_NUL)]] = Query([], max_length=50),
    exclude: list[Id] = Query([], max_length=1000),
) -> list[FoundOut]:
    """Intent similar: questions like one in the bank (itself excluded, its subject favoured), with filters."""
    filters = SearchFilters(subject, level_min, level_max, concept, exclude)
    return _out(await asyncio.to_thread(stack.retriever.similar_to, question_id, k, filters), "similar", response)


@router.post("/search", response_model=list[FoundOut], dependencies=[require("search")])
async def search(body: SearchIn, stack: StackDep, response: Response) -> list[FoundOut]:
    """A free text, ranked for its intent: find (that question first) or similar (questions like it)."""
    f = body.filters
    filters = SearchFilters(f.subject, f.level_min, f.level_max, f.concepts, f.exclude_ids)
    found = await asyncio.to_thread(stack.retriever.search, body.text, body.k, filters, body.intent)
    return _out(found, body.intent, response)


@router.post("/similar", response_model=PracticeOut, dependencies=[require("search")])
async def practice(body: PracticeIn, stack: StackDep, response: Response) -> PracticeOut:
    """Similar practice for a problem the student typed or pasted: the subject it was ranked for (the bank's
    copy of the problem's, else inferred from the text, with how sure that is) and questions on it; ``subject``
    picks another topic."""
    filters = SearchFilters((body.subject or "").strip() or None, body.level_min, body.level_max)
    found = await asyncio.to_thread(stack.retriever.practice, body.text, body.k, filters)
    return _practice(found, response)


class HintIn(BaseModel):
    student_answer: Text | None = Field(None, max_length=4000)
    level: int | None = Field(
        None,
        ge=1,
        le=10,
        description="The hint ladder's level when the bank answers: 1 the concept, 2 the first step, 3 on the "
        "next steps; ask again with the next level to climb. Raised to what the student's answer already shows.",
    )


class AskIn(BaseModel):
    text: Written = Field(min_length=1, max_length=4000)


async def _sse(events: AsyncIterator[RagEvent]) -> StreamingResponse:
    """Open the stream far enough to fail with a proper status (404/422/503, see api/errors.py) before any byte
    is sent; the sources go out without waiting for the model's first token (``open_stream``)."""
    first, rest = await open_stream(events)
    return respond(first, rest)


@router.post(
    "/questions/{question_id}/explain",
    responses={200: {"content": {"text/event-stream": {}}}},
    dependencies=[require("ai.explain")],
)
async def explain(question_id: QuestionId, stack: StackDep) -> StreamingResponse:
    """A checked explanation (the model's while it passes the answer checks, else the bank's solution), grounded in
    similar questions and materials. SSE: sources, started, answering, delta..., usage, checked, cited."""
    return await _sse(stack.rag.explain(question_id))


@router.post(
    "/questions/{question_id}/hint",
    responses={200: {"content": {"text/event-stream": {}}}},
    dependencies=[require("ai.hint")],
)
async def hint(question_id: QuestionId, body: HintIn, stack: StackDep) -> StreamingResponse:
    """One checked hint (the model's if it passes the answer checks, else the bank's ladder); the student's
    answer is treated as data, never as instructions. SSE: sources, started, answering, delta..., usage,
    checked, cited."""
    return await _sse(stack.rag.hint(question_id, body.student_answer, level=body.level))


@router.post("/ask", responses={200: {"content": {"text/event-stream": {}}}}, dependencies=[require("ai.ask")])
async def ask(body: AskIn, stack: StackDep) -> StreamingResponse:
    """A free question answered from the bank and the materials."""
    return await _sse(stack.rag.ask(body.text))
