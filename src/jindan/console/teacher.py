"""Teacher pages: the classes one teaches, a class x concept mastery heatmap, the questions to give the class."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response
from sqlalchemy import func, select

from jindan.api.deps import MAX_ID, DatabaseDep, PrincipalDep, StackDep, require
from jindan.console.student import ready_retriever
from jindan.console.web import ConsoleRoute, page
from jindan.db.engine import Database
from jindan.db.models import SchoolClass, class_members
from jindan.diagnosis.service import NoModel, active_model, class_matrix, diagnose_student
from jindan.rag.stack import SearchStack
from jindan.security import rules
from jindan.security.principal import Principal

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
ClassId = Annotated[int, Path(ge=1, le=MAX_ID)]
BANDS = 10  # heatmap colour steps
CLASS_PICKS = 8


def _classes(db: Database, teacher_id: int | None) -> list[dict[str, Any]]:
    with db.session() as s:
        q = (
            select(SchoolClass.id, SchoolClass.name, func.count(class_members.c.user_id))
            .outerjoin(class_members, class_members.c.class_id == SchoolClass.id)
            .group_by(SchoolClass.id)
            .order_by(SchoolClass.name)
        )
        if teacher_id is not None:
            q = q.where(SchoolClass.teacher_id == teacher_id)
        return [{"id": i, "name": n, "students": c} for i, n, c in s.execute(q).tuples()]


@router.get("/classes")
async def classes(request: Request, db: DatabaseDep, p: PrincipalDep) -> Response:
    """The classes this principal may read: all of them (reach ``all``) or the ones they teach (``class``)."""
    reach = rules.reach(p, "class.read")
    if reach == "none" or (reach != "all" and p.user_id is None):
        raise HTTPException(403, f"{p.role} may not class.read here")
    rows = await asyncio.to_thread(_classes, db, None if reach == "all" else p.user_id)
    return page(request, "pages/classes.html", {"classes": rows})


def band(value: float | None) -> int | None:
    return None if value is None else min(BANDS - 1, max(0, int(value * BANDS)))


def _heatmap(db: Database, class_id: int) -> dict[str, Any]:
    try:
        m = class_matrix(db.replica, class_id)  # a report: the read replica when one is set
    except NoModel:
        with db.session() as s:
            if s.get(SchoolClass, class_id) is None:
                raise LookupError(f"class {class_id} not found") from None
        return {"missing_model": True}
    columns = list(zip(*m["mastery"], strict=True)) if m["students"] else []
    averages = []
    for col in columns:
        known = [v for v in col if v is not None]
        averages.append(sum(known) / len(known) if known else None)
    rows = [
        {"student": st, "cells": [{"value": v, "band": band(v)} for v in row]}
        for st, row in zip(m["students"], m["mastery"], strict=True)
    ]
    weakest = sorted(
        ((avg, c) for avg, c in zip(averages, m["concepts"], strict=True) if avg is not None), key=lambda x: x[0]
    )[:3]
    return {
        "missing_model": False,
        "klass": m["class"],
        "concepts": m["concepts"],
        "rows": rows,
        "averages": [{"value": a, "band": band(a)} for a in averages],
        "weakest": [{"name": c["name"], "value": a} for a, c in weakest],
        "model_version": m["model_version"],
    }


@router.get("/classes/{class_id}")
async def heatmap(
    request: Request, class_id: ClassId, db: DatabaseDep, _: Principal = require("class.read")
) -> Response:
    context = await asyncio.to_thread(_heatmap, db, class_id)
    return page(
        request, "pages/class.html", {**context, "class_id": class_id}, status=409 if context["missing_model"] else 200
    )


def _recommended(db: Database, stack: SearchStack, class_id: int) -> list[dict[str, Any]]:
    """Questions recommended to the most students of the class (each student's own next questions, pooled)."""
    model = active_model(db)
    retriever = ready_retriever(stack)
    with db.session() as s:
        members = list(s.scalars(select(class_members.c.user_id).where(class_members.c.class_id == class_id)))
    votes: Counter[int] = Counter()
    picked: dict[int, dict[str, Any]] = {}
    for uid in members:
        result = diagnose_student(db, uid, model=model, retriever=retriever, store=False, recommendations=3)
        for r in result.recommendations:
            votes[r["question_id"]] += 1
            picked.setdefault(r["question_id"], r)
    return [{**picked[qid], "students": n} for qid, n in votes.most_common(CLASS_PICKS)]


@router.get("/classes/{class_id}/recommended")
async def recommended(
    request: Request, class_id: ClassId, db: DatabaseDep, stack: StackDep, _: Principal = require("class.read")
) -> Response:
    picks = await asyncio.to_thread(_recommended, db, stack, class_id)
    context = {"picks": picks, "include": "partials/_class_picks.html"}
    return page(request, "pages/fragment.html", context, partial="partials/_class_picks.html")
