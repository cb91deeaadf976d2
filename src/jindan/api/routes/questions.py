"""Read access to the question bank. Answers and official solutions only for staff (teachers, admins, keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel

from jindan.api.deps import MAX_ID, SessionDep, require
from jindan.api.schemas import ERRORS, NO_NUL
from jindan.db.models import Question
from jindan.db.repositories import QuestionRepository
from jindan.security import rules
from jindan.security.principal import Principal

router = APIRouter(prefix="/questions", tags=["questions"], responses=ERRORS)
QuestionId = Annotated[int, Path(ge=1, le=MAX_ID, description="The question's id in jindan.")]


class QuestionOut(BaseModel):
    id: int
    source: str
    external_id: str
    subject: str | None
    level: int | None
    grade: str | None
    difficulty: float | None
    body: str
    choices: list[str] | None
    answer: str | None = None
    explanation: str | None = None
    concepts: list[str]

    @classmethod
    def of(cls, q: Question, with_answer: bool) -> QuestionOut:
        return cls(
            id=q.id,
            source=q.source,
            external_id=q.external_id,
            subject=q.subject,
            level=q.level,
            grade=q.grade,
            difficulty=q.difficulty,
            body=q.body,
            choices=q.choices,
            answer=q.answer if with_answer else None,
            explanation=q.explanation if with_answer else None,
            concepts=[c.external_id for c in q.concepts],
        )


class QuestionPage(BaseModel):
    total: int
    items: list[QuestionOut]


def _answers(p: Principal) -> bool:
    return rules.reach(p, "question.answer") == "all"


@router.get("", response_model=QuestionPage)
def list_questions(
    session: SessionDep,
    subject: str | None = Query(None, max_length=200, pattern=NO_NUL),
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0, le=MAX_ID),
    p: Principal = require("questions.read"),
) -> QuestionPage:
    """A page of the bank; answers and solutions are included for teachers, admins and service keys only."""
    repo = QuestionRepository(session)
    items = repo.list(subject=subject, limit=limit, offset=offset)
    return QuestionPage(total=repo.count(subject=subject), items=[QuestionOut.of(q, _answers(p)) for q in items])


@router.get("/{question_id}", response_model=QuestionOut)
def get_question(question_id: QuestionId, session: SessionDep, p: Principal = require("questions.read")) -> QuestionOut:
    q = QuestionRepository(session).get(question_id)
    if q is None:
        raise HTTPException(404, f"question {question_id} not found")
    return QuestionOut.of(q, _answers(p))
