"""Read access to the question bank."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from jindan.api.deps import Authenticated, SessionDep
from jindan.db.models import Question
from jindan.db.repositories import QuestionRepository

router = APIRouter(prefix="/questions", tags=["questions"], dependencies=[Authenticated])


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
    answer: str | None
    explanation: str | None
    concepts: list[str]

    @classmethod
    def of(cls, q: Question) -> QuestionOut:
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
            answer=q.answer,
            explanation=q.explanation,
            concepts=[c.external_id for c in q.concepts],
        )


class QuestionPage(BaseModel):
    total: int
    items: list[QuestionOut]


@router.get("", response_model=QuestionPage)
def list_questions(
    session: SessionDep,
    subject: str | None = None,
    limit: int = Query(20, ge=1, le=200),
    offset: int = Query(0, ge=0),
) -> QuestionPage:
    repo = QuestionRepository(session)
    items = repo.list(subject=subject, limit=limit, offset=offset)
    return QuestionPage(total=repo.count(subject=subject), items=[QuestionOut.of(q) for q in items])


@router.get("/{question_id}", response_model=QuestionOut)
def get_question(question_id: int, session: SessionDep) -> QuestionOut:
    q = QuestionRepository(session).get(question_id)
    if q is None:
        raise HTTPException(404, f"question {question_id} not found")
    return QuestionOut.of(q)
