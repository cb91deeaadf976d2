"""Students' answers: recorded in one transaction before any AI call, so an AI failure never loses them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from jindan.api.deps import MAX_ID, DatabaseDep, require
from jindan.api.schemas import ERRORS, Text
from jindan.db.engine import Database
from jindan.db.repositories import ResponseRepository, UserRepository

router = APIRouter(tags=["responses"], responses=ERRORS)
StudentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The student's id in jindan (users.id).")]


class AnswerIn(BaseModel):
    question_id: int = Field(ge=1, le=MAX_ID)
    chosen_answer: Text | None = Field(None, max_length=4000)
    correct: bool
    time_taken_ms: int | None = Field(None, ge=0, le=86_400_000)


class ResponsesIn(BaseModel):
    responses: list[AnswerIn] = Field(min_length=1, max_length=500)
    attempt: Text | None = Field(
        None, min_length=1, max_length=200, description="Groups answers of one sitting; a new attempt when empty."
    )


class RecordedOut(BaseModel):
    attempt_id: int
    response_ids: list[int]


class ResponseOut(BaseModel):
    id: int
    attempt_id: int
    seq: int
    question_id: int | None
    concept_id: int | None
    correct: bool
    chosen_answer: str | None
    time_taken_ms: int | None
    answered_at: datetime


def _record(db: Database, user_id: int, body: ResponsesIn) -> RecordedOut:
    with db.session() as s:
        if not UserRepository(s).exists(user_id):
            raise LookupError(f"student {user_id} not found")
        attempt, ids = ResponseRepository(s).record(user_id, body.attempt, [r.model_dump() for r in body.responses])
    return RecordedOut(attempt_id=attempt, response_ids=ids)


@router.post("/students/{user_id}/responses", response_model=RecordedOut, status_code=201)
async def record(
    user_id: StudentId, body: ResponsesIn, db: DatabaseDep, _: object = require("responses.write")
) -> RecordedOut:
    """Record a student's answers (all or none). The diagnosis reads them on its next run."""
    return await asyncio.to_thread(_record, db, user_id, body)


def _list(db: Database, user_id: int, limit: int, offset: int) -> list[ResponseOut]:
    with db.session() as s:
        if not UserRepository(s).exists(user_id):
            raise LookupError(f"student {user_id} not found")
        rows = ResponseRepository(s).of_user(user_id, limit, offset)
        return [ResponseOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/students/{user_id}/responses", response_model=list[ResponseOut])
async def list_responses(
    user_id: StudentId,
    db: DatabaseDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_ID),
    _: object = require("responses.read"),
) -> list[ResponseOut]:
    """A student's answers, newest first."""
    return await asyncio.to_thread(_list, db, user_id, limit, offset)
