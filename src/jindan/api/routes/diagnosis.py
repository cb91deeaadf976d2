"""Diagnoses for students and the class x concept mastery matrix for teachers."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from jindan.api.deps import Authenticated, DatabaseDep, SettingsDep
from jindan.diagnosis.narrative import write
from jindan.diagnosis.service import NoModel, UnknownStudent, class_matrix, diagnose_student

router = APIRouter(tags=["diagnosis"], dependencies=[Authenticated])


@router.post("/students/{user_id}/diagnosis")
async def diagnose(
    user_id: int, request: Request, db: DatabaseDep, settings: SettingsDep, narrative: bool = True
) -> dict[str, Any]:
    """Mastery per concept, weakest and strongest concepts, next questions; stored with the model version."""
    retriever: Any = None
    try:
        retriever = request.app.state.search.retriever
        retriever.spec()
    except Exception:  # no index yet (or no embedder): recommend by concept links only
        retriever = None
    try:
        result = await asyncio.to_thread(diagnose_student, db, user_id, retriever=retriever)
    except NoModel as exc:
        raise HTTPException(409, str(exc)) from exc
    except UnknownStudent as exc:
        raise HTTPException(404, str(exc)) from exc
    body = result.to_dict()
    if narrative:
        text = await write(request.app.state.router, result, settings.language)
        body["narrative"] = {"student": text.student, "teacher": text.teacher, "source": text.source}
    return body


@router.get("/classes/{class_id}/mastery")
async def mastery(class_id: int, db: DatabaseDep) -> dict[str, Any]:
    """Students x concepts mastery of a class (null where a student has no answers on a concept)."""
    try:
        return await asyncio.to_thread(class_matrix, db, class_id)
    except NoModel as exc:
        raise HTTPException(409, str(exc)) from exc
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
