"""Diagnostic test pages (진단평가): a student takes one question at a time and ends on the diagnosis; a teacher
starts one for a class and watches who has finished, the class heatmap filling in. Same services and rules as
``api/routes/diagnostic.py``; every answer is a full form post and a redirect (it works without scripts)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from jindan.answers.gate import AnswerObserver
from jindan.api.deps import MAX_ID, DatabaseDep, RouterDep, require
from jindan.console.teacher import band
from jindan.console.web import ConsoleRoute, can, form, lang, page, secure
from jindan.db.engine import Database
from jindan.db.models import DiagnosticSession, Question
from jindan.diagnosis import sessions
from jindan.diagnosis.narrative import write
from jindan.diagnosis.report import result_of
from jindan.security.principal import Principal

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
StudentId = Annotated[int, Path(ge=1, le=MAX_ID)]
ClassId = Annotated[int, Path(ge=1, le=MAX_ID)]
SessionId = Annotated[int, Path(ge=1, le=MAX_ID)]
DEFAULT_MAX = 15


def _units(db: Database) -> list[str]:
    with db.session() as s:
        rows = s.scalars(select(Question.subject).where(Question.subject.is_not(None)).distinct())
        return sorted(r for r in rows if r)


def _spec(data: dict[str, str]) -> sessions.Spec:
    unit = data.get("unit", "").strip()[:200]
    if not unit:
        raise ValueError("choose a unit first")
    raw = data.get("max_questions", "")
    size = int(raw) if raw.isdecimal() else DEFAULT_MAX
    return sessions.Spec(unit, None, min(max(size, 1), 60), 0.5)


def _redirect(url: str) -> Response:
    return secure(RedirectResponse(url, status_code=303))


@router.get("/students/{user_id}/diagnostic")
async def mine(
    request: Request, user_id: StudentId, db: DatabaseDep, p: Principal = require("diagnosis.read")
) -> Response:
    rows, units = await asyncio.gather(
        asyncio.to_thread(sessions.list_sessions, db, user_id), asyncio.to_thread(_units, db)
    )
    context = {"user_id": user_id, "tests": rows, "units": units, "can_start": can(p, "diagnostic.start")}
    return page(request, "pages/diagnostic_list.html", context)


@router.post("/students/{user_id}/diagnostic")
async def start(
    request: Request, user_id: StudentId, db: DatabaseDep, p: Principal = require("diagnostic.start")
) -> Response:
    spec = _spec(await form(request))
    state = await asyncio.to_thread(sessions.start, db, user_id, spec, p.limit_key)
    return _redirect(f"/console/students/{user_id}/diagnostic/{state['id']}")


async def _narrated(
    db: Database, llm: Any, state: dict[str, Any], language: str, observer: AnswerObserver | None
) -> dict[str, Any]:
    diag = state.get("diagnosis")
    if diag is not None and diag.get("narrative") is None:
        text = await write(llm, result_of(diag), language, observer=observer)
        diag["narrative"] = text.shown()
        await asyncio.to_thread(sessions.save_narrative, db, state["user_id"], state["id"], diag["narrative"])
    return state


@router.get("/students/{user_id}/diagnostic/{session_id}")
async def session(
    request: Request,
    user_id: StudentId,
    session_id: SessionId,
    db: DatabaseDep,
    llm: RouterDep,
    p: Principal = require("diagnosis.read"),
) -> Response:
    state = await asyncio.to_thread(sessions.get, db, user_id, session_id)
    state = await _narrated(db, llm, state, lang(request), request.app.state.search.answer_observer)
    diag = state.get("diagnosis") or {}
    by_id = {c["concept_id"]: c for c in diag.get("concepts", [])}
    context = {
        "s": state,
        "weak": [by_id[c] for c in diag.get("weakest", []) if c in by_id],
        "user_id": user_id,
        "can_answer": can(p, "diagnostic.answer"),
        "words_for": "teacher" if p.role == "teacher" else "student",
        "last": request.query_params.get("last"),
    }
    return page(request, "pages/diagnostic_test.html", context)


@router.post("/students/{user_id}/diagnostic/{session_id}/answers")
async def answer(
    request: Request,
    user_id: StudentId,
    session_id: SessionId,
    db: DatabaseDep,
    _: Principal = require("diagnostic.answer"),
) -> Response:
    data = await form(request)
    chosen = data.get("chosen", "").strip()[:4000]
    if not chosen or not data.get("question_id", "").isdecimal():
        raise ValueError("choose or type an answer first")
    a = sessions.Answer(int(data["question_id"]), answer=chosen)
    try:
        state = await asyncio.to_thread(sessions.answer, db, user_id, session_id, a)
    except sessions.SessionConflict:  # finished, or a second tab answered first: show where the test stands
        return _redirect(f"/console/students/{user_id}/diagnostic/{session_id}")
    last = "right" if state["correct"] else "wrong"
    return _redirect(f"/console/students/{user_id}/diagnostic/{session_id}?last={last}")


def _class_view(db: Database, class_id: int) -> dict[str, Any]:
    """Progress of the class's latest tests and the heatmap of their estimates (students x concepts)."""
    progress = sessions.class_progress(db, class_id)
    concepts: dict[int, str] = {}
    cells: dict[int, dict[int, float]] = {}
    with db.session() as s:
        for st in progress["students"]:
            if st["session"] is None:
                continue
            row = s.get(DiagnosticSession, st["session"]["id"])
            if row is None:
                continue
            estimates = sessions.view(s, row)["estimates"]
            cells[st["id"]] = {e["concept_id"]: e["mastery"] for e in estimates if e["evidence"]}
            concepts.update({e["concept_id"]: e["name"] for e in estimates})
    order = sorted(concepts)
    rows = []
    for st in progress["students"]:
        mine = cells.get(st["id"], {})
        values = [mine.get(c) for c in order]
        rows.append({**st, "cells": [{"value": v, "band": band(v)} for v in values]})
    done = sum(1 for st in progress["students"] if st["session"] and st["session"]["status"] == "done")
    return {
        "klass": progress["class"],
        "rows": rows,
        "concepts": [{"id": c, "name": concepts[c]} for c in order],
        "done": done,
        "units": _units(db),
    }


@router.get("/classes/{class_id}/diagnostic")
async def klass(request: Request, class_id: ClassId, db: DatabaseDep, p: Principal = require("class.read")) -> Response:
    context = await asyncio.to_thread(_class_view, db, class_id)
    return page(request, "pages/diagnostic_class.html", {**context, "class_id": class_id})


@router.post("/classes/{class_id}/diagnostic")
async def start_class(
    request: Request, class_id: ClassId, db: DatabaseDep, p: Principal = require("diagnostic.start")
) -> Response:
    spec = _spec(await form(request))
    await asyncio.to_thread(sessions.start_class, db, class_id, spec, p.limit_key)
    return _redirect(f"/console/classes/{class_id}/diagnostic")
