"""Diagnoses for students and the class x concept mastery matrix for teachers."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from jindan.api.deps import MAX_ID, DatabaseDep, RouterDep, SettingsDep, StackDep, require
from jindan.api.schemas import ERRORS
from jindan.diagnosis.narrative import reader_language, write
from jindan.diagnosis.service import class_matrix, diagnose_student

router = APIRouter(tags=["diagnosis"], responses={**ERRORS, 409: {"description": "No diagnosis model fitted yet"}})
StudentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The student's id in jindan (users.id).")]
ClassId = Annotated[int, Path(ge=1, le=MAX_ID)]


class ConceptOut(BaseModel):
    concept_id: int
    name: str
    mastery: float
    confidence: float
    evidence: int
    accuracy: float | None


class RecommendationOut(BaseModel):
    question_id: int
    concept_id: int
    concept: str
    level: int | None
    predicted_success: float
    body: str


class NarrativeOut(BaseModel):
    student: str
    teacher: str
    source: str  # llm: the model's text passed the checks; template: it did not (or no model answered)
    failed: list[str] = []  # the checks the model's last text failed (numbers, language, degenerate)


class DiagnosisOut(BaseModel):
    user_id: int
    model_version: str
    responses: int
    ability: float
    concepts: list[ConceptOut]
    weakest: list[int]
    strengths: list[int]
    recommendations: list[RecommendationOut]
    notes: list[str]
    narrative: NarrativeOut | None = None


class NamedOut(BaseModel):
    id: int
    name: str


class MatrixOut(BaseModel):
    class_: NamedOut = Field(alias="class")
    students: list[NamedOut]
    concepts: list[NamedOut]
    mastery: list[list[float | None]]
    model_version: str


def _retriever(stack: Any) -> Any:
    """The similar-question retriever when an index exists; recommendations fall back to concept links."""
    try:
        retriever = stack.retriever
        retriever.spec()
        return retriever
    except Exception:  # no index yet, or no embedder: concept links only
        return None


@router.post("/students/{user_id}/diagnosis", response_model=DiagnosisOut, dependencies=[require("diagnosis.read")])
async def diagnose(
    user_id: StudentId, db: DatabaseDep, settings: SettingsDep, stack: StackDep, llm: RouterDep, narrative: bool = True
) -> DiagnosisOut:
    """Mastery per concept, weakest and strongest concepts, next questions; stored with the model version."""
    retriever = await asyncio.to_thread(_retriever, stack)
    result = await asyncio.to_thread(diagnose_student, db, user_id, retriever=retriever)
    out = DiagnosisOut.model_validate(result.to_dict())
    if narrative:
        language = reader_language(result, settings.language)
        text = await write(llm, result, language, observer=stack.answer_observer)
        out.narrative = NarrativeOut.model_validate(text.shown())
    return out


@router.get("/classes/{class_id}/mastery", response_model=MatrixOut, dependencies=[require("class.read")])
async def mastery(class_id: ClassId, db: DatabaseDep) -> MatrixOut:
    """Students x concepts mastery of a class (null where a student has no answers on a concept)."""
    return MatrixOut.model_validate(await asyncio.to_thread(class_matrix, db.replica, class_id))  # may lag
