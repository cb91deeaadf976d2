"""Student pages: search the bank, a question with streamed hints and similar practice, answers, my diagnosis."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from jindan.answers.grading import same_answer
from jindan.api.deps import MAX_ID, DatabaseDep, RouterDep, StackDep, require
from jindan.console.web import ConsoleRoute, can, form, lang, page
from jindan.db.engine import Database
from jindan.db.models import User
from jindan.db.repositories import QuestionRepository, ResponseRepository
from jindan.diagnosis.narrative import write
from jindan.diagnosis.service import NoModel, diagnose_student
from jindan.embed.base import EmbedderError
from jindan.rag.retrieve import Found, Retriever, SearchFilters
from jindan.rag.stack import SearchStack
from jindan.security import rules
from jindan.security.principal import Principal
from jindan.vectors.base import CollectionNotFound, VectorStoreError

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
QuestionId = Annotated[int, Path(ge=1, le=MAX_ID)]
StudentId = Annotated[int, Path(ge=1, le=MAX_ID)]
RESULTS = 10
SIMILAR = 5


def shown(found: list[Found]) -> list[dict[str, Any]]:
    """What a result card shows: never the answer or the solution (students see these pages)."""
    return [
        {"id": f.id, "body": f.text, "subject": f.subject, "level": f.level, "concepts": f.concepts, "score": f.score}
        for f in found
        if f.kind == "question"
    ]


def _search(stack: SearchStack, text: str) -> tuple[list[dict[str, Any]], str | None]:
    try:
        return shown(stack.retriever.search(text, RESULTS)), None
    except CollectionNotFound:
        return [], "index_missing"
    except (VectorStoreError, EmbedderError):
        return [], "search_down"


def _practice(stack: SearchStack, text: str, subject: str | None) -> tuple[list[dict[str, Any]], str | None, Any]:
    """Similar practice for a typed problem: results on one topic, the topic, and every topic to pick from."""
    try:
        retriever = stack.retriever
        found = retriever.practice(text, RESULTS, SearchFilters(subject=subject))
        subjects = retriever.subjects()
    except CollectionNotFound:
        return [], "index_missing", None
    except (VectorStoreError, EmbedderError):
        return [], "search_down", None
    t = found.topic
    if t is None:
        return shown(found.found), None, None
    chips = sorted(subjects, key=lambda s: (-t.of(s), s))
    topic = {
        "subject": t.subject,
        "percent": round(100 * t.confidence),
        "uncertain": t.uncertain,
        "source": t.source,
        "chips": [{"subject": s, "percent": round(100 * t.of(s))} for s in chips],
        "clues": list(t.clues),
    }
    return shown(found.found), None, topic


@router.get("/search")
async def search(
    request: Request,
    stack: StackDep,
    q: str = Query("", max_length=500),
    intent: Literal["find", "similar"] = Query("find"),
    subject: str | None = Query(None, max_length=200),
    _: Principal = require("search"),
) -> Response:
    """find: the typed question; similar: practice on the typed problem's topic, which the student can change."""
    text = q.replace("\x00", "").strip()
    picked = (subject or "").replace("\x00", "").strip() or None
    topic = None
    if text and intent == "similar":
        results, problem, topic = await asyncio.to_thread(_practice, stack, text, picked)
    else:
        results, problem = await asyncio.to_thread(_search, stack, text) if text else ([], None)
    context = {"q": text, "results": results, "problem": problem, "intent": intent, "topic": topic}
    return page(request, "pages/search.html", context, partial="partials/_results.html")


def _question(db: Database, question_id: int, with_answer: bool) -> dict[str, Any]:
    with db.session() as s:
        q = QuestionRepository(s).get(question_id)
        if q is None:
            raise LookupError(f"question {question_id} not found")
        return {
            "id": q.id,
            "body": q.body,
            "choices": q.choices or [],
            "subject": q.subject,
            "grade": q.grade,
            "level": q.level,
            "concepts": [c.name for c in q.concepts],
            "answer": q.answer if with_answer else None,
            "explanation": q.explanation if with_answer else None,
            "gradable": q.answer is not None,
        }


@router.get("/questions/{question_id}")
async def question(
    request: Request, question_id: QuestionId, db: DatabaseDep, p: Principal = require("questions.read")
) -> Response:
    staff = rules.reach(p, "question.answer") == "all"
    q = await asyncio.to_thread(_question, db, question_id, staff)
    context = {
        "q": q,
        "can_hint": can(p, "ai.hint"),
        "can_explain": can(p, "ai.explain"),
        "answers_as": p.user_id if p.role == "student" and can(p, "responses.write") else None,
    }
    return page(request, "pages/question.html", context)


def ready_retriever(stack: SearchStack) -> Retriever | None:
    """The similar-question retriever when the index exists, else None (callers fall back or say so)."""
    try:
        retriever = stack.retriever
        retriever.spec()
        return retriever
    except (VectorStoreError, EmbedderError):
        return None


@router.get("/questions/{question_id}/similar")
async def similar(
    request: Request, question_id: QuestionId, stack: StackDep, _: Principal = require("search")
) -> Response:
    def find() -> tuple[list[dict[str, Any]], str | None]:
        retriever = ready_retriever(stack)
        if retriever is None:
            return [], "index_missing"
        return shown(retriever.similar_to(question_id, SIMILAR)), None

    results, problem = await asyncio.to_thread(find)
    return page(
        request,
        "pages/fragment.html",
        {"results": results, "problem": problem, "include": "partials/_similar.html"},
        partial="partials/_similar.html",
    )


def _record(db: Database, user_id: int, question_id: int, chosen: str, time_ms: int | None) -> dict[str, Any]:
    with db.session() as s:
        q = QuestionRepository(s).get(question_id)
        if q is None:
            raise LookupError(f"question {question_id} not found")
        if q.answer is None:
            raise ValueError("this question has no answer key, so an answer cannot be checked")
        ok = same_answer(chosen, q.answer)
        item = {"question_id": question_id, "chosen_answer": chosen, "correct": ok, "time_taken_ms": time_ms}
        _attempt, ids = ResponseRepository(s).record(user_id, None, [item])
    return {"correct": ok, "response_id": ids[0], "user_id": user_id, "question_id": question_id}


@router.post("/students/{user_id}/responses")
async def answer(
    request: Request, user_id: StudentId, db: DatabaseDep, _: Principal = require("responses.write")
) -> Response:
    data = await form(request)
    chosen = data.get("chosen", "").strip()[:4000]
    if not chosen or not data.get("question_id", "").isdecimal():
        raise ValueError("choose or type an answer first")
    qid = int(data["question_id"])
    time_ms = int(data["time_taken_ms"]) if data.get("time_taken_ms", "").isdecimal() else None
    if time_ms is not None and time_ms > 86_400_000:
        time_ms = None
    result = await asyncio.to_thread(_record, db, user_id, qid, chosen, time_ms)
    return page(
        request,
        "pages/fragment.html",
        {**result, "include": "partials/_answered.html"},
        partial="partials/_answered.html",
        status=201,
    )


def _diagnosis(db: Database, stack: SearchStack, user_id: int) -> dict[str, Any]:
    try:
        result = diagnose_student(db, user_id, retriever=ready_retriever(stack), store=False)
    except NoModel:
        return {"missing_model": True}
    by_id = {c.concept_id: c for c in result.concepts}
    with db.session() as s:
        recent = ResponseRepository(s).of_user(user_id, 10, 0)
        answered = [{"question_id": r.question_id, "correct": r.correct, "at": r.answered_at} for r in recent]
    return {
        "missing_model": False,
        "result": result,
        "concepts": sorted((c for c in result.concepts if c.evidence), key=lambda c: c.mastery),
        "unseen": [c for c in result.concepts if not c.evidence],
        "weakest": [by_id[c] for c in result.weakest if c in by_id],
        "strengths": [by_id[c] for c in result.strengths if c in by_id],
        "recent": answered,
    }


@router.get("/students/{user_id}/diagnosis")
async def diagnosis(
    request: Request, user_id: StudentId, db: DatabaseDep, stack: StackDep, p: Principal = require("diagnosis.read")
) -> Response:
    context = await asyncio.to_thread(_diagnosis, db, stack, user_id)
    status = 409 if context["missing_model"] else 200
    name = await asyncio.to_thread(_name, db, user_id)
    return page(request, "pages/diagnosis.html", {**context, "user_id": user_id, "name": name}, status=status)


def _name(db: Database, user_id: int) -> str:
    with db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise LookupError(f"student {user_id} not found")
        return user.name or user.external_id


@router.get("/students/{user_id}/narrative")
async def narrative(
    request: Request,
    user_id: StudentId,
    db: DatabaseDep,
    llm: RouterDep,
    p: Principal = require("diagnosis.read"),
) -> Response:
    """The diagnosis in words (the language model writes, the numbers come from the result); loaded after
    the page, since a local model takes seconds."""
    result = await asyncio.to_thread(diagnose_student, db, user_id, store=False)
    text = await write(llm, result, lang(request), observer=request.app.state.search.answer_observer)
    words = text.student if p.role == "student" else text.teacher
    context = {"words": words, "source": text.source, "include": "partials/_narrative.html"}
    return page(request, "pages/fragment.html", context, partial="partials/_narrative.html")
