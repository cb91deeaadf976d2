"""Adaptive diagnostic tests (진단평가): a student takes one question at a time until their mastery of the unit's
concepts is known within the asked confidence (or the maximum is reached); a teacher starts one for a class."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jindan.answers.gate import AnswerObserver
from jindan.api.deps import MAX_ID, DatabaseDep, RouterDep, SettingsDep, StackDep, require
from jindan.api.routes.diagnosis import NarrativeOut
from jindan.api.routes.diagnosis import RecommendationOut as NextOut
from jindan.api.schemas import ERRORS, NO_NUL, Text
from jindan.diagnosis import sessions
from jindan.diagnosis.narrative import reader_language, write
from jindan.diagnosis.report import result_of
from jindan.llm.router import Router
from jindan.security.principal import Principal

router = APIRouter(
    tags=["diagnostic"],
    responses={**ERRORS, 409: {"description": "The session has finished, or asked another question"}},
)
StudentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The student's id in jindan (users.id).")]
ClassId = Annotated[int, Path(ge=1, le=MAX_ID)]
SessionId = Annotated[int, Path(ge=1, le=MAX_ID, description="The diagnostic session's id.")]


def _one_of_schema(schema: dict[str, Any]) -> None:
    """What the validators below enforce, said in the schema: a unit or concepts (or both), never null."""
    props = schema["properties"]
    props["unit"] = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NO_NUL, **_doc(props["unit"])}
    concepts = props["concepts"]["anyOf"][0]
    props["concepts"] = {**concepts, **_doc(props["concepts"])}
    schema["anyOf"] = [{"required": ["unit"]}, {"required": ["concepts"]}]


def _not_null(value: Any) -> Any:
    """An optional field may be left out, never sent as null."""
    if value is None:
        raise ValueError("leave it out instead of null")
    return value


def _doc(prop: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if k in ("description", "title")}


class StartIn(BaseModel):
    model_config = ConfigDict(json_schema_extra=_one_of_schema)

    unit: Text | None = Field(None, min_length=1, max_length=200, description="A unit of the bank (its subject).")
    concepts: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(None, min_length=1, max_length=200)
    max_questions: int = Field(15, ge=1, le=60, description="Stop after this many questions at the latest.")
    target_confidence: float = Field(
        0.5,
        ge=0.05,
        le=0.99,
        description="Stop once every concept's confidence (1 - width of its 90% interval) reaches this.",
    )

    _present = field_validator("unit", "concepts", mode="before")(_not_null)

    @model_validator(mode="after")
    def _one_scope(self) -> StartIn:
        if self.unit is None and not self.concepts:
            raise ValueError("give a unit or a list of concept ids")
        return self

    def spec(self) -> sessions.Spec:
        return sessions.Spec(self.unit, self.concepts, self.max_questions, self.target_confidence)


def _answer_schema(schema: dict[str, Any]) -> None:
    """An answer to grade or a verdict (or both), never null: what ``AnswerIn``'s validators enforce."""
    props = schema["properties"]
    props["answer"] = {"type": "string", "maxLength": 4000, "pattern": NO_NUL, **_doc(props["answer"])}
    props["correct"] = {"type": "boolean", **_doc(props["correct"])}
    schema["anyOf"] = [{"required": ["answer"]}, {"required": ["correct"]}]


class AnswerIn(BaseModel):
    model_config = ConfigDict(json_schema_extra=_answer_schema)

    question_id: int = Field(ge=1, le=MAX_ID)
    answer: Text | None = Field(None, max_length=4000, description="The student's answer, graded against the key.")
    correct: bool | None = Field(None, description="Already graded by the platform (used when no answer is given).")
    time_taken_ms: int | None = Field(None, ge=0, le=86_400_000)

    _present = field_validator("answer", "correct", mode="before")(_not_null)

    @model_validator(mode="after")
    def _something(self) -> AnswerIn:
        if self.answer is None and self.correct is None:
            raise ValueError("send `answer` (graded against the bank's key) or `correct`")
        return self


class QuestionOut(BaseModel):
    id: int
    body: str
    choices: list[str] | None
    level: int | None
    grade: str | None
    subject: str | None
    concepts: list[str]


class EstimateOut(BaseModel):
    concept_id: int
    name: str
    mastery: float
    low: float
    high: float
    confidence: float
    evidence: int
    accuracy: float | None


class DiagnosisOut(BaseModel):
    user_id: int
    model_version: str
    responses: int
    ability: float
    concepts: list[EstimateOut]
    weakest: list[int]
    strengths: list[int]
    recommendations: list[NextOut]
    notes: list[str]
    narrative: NarrativeOut | None = None


class SummaryOut(BaseModel):
    id: int
    status: str
    unit: str | None
    concepts: list[int] | None
    asked: int
    max_questions: int
    created_at: datetime
    finished_at: datetime | None


class SessionOut(SummaryOut):
    user_id: int
    class_id: int | None
    target_confidence: float
    question: QuestionOut | None
    estimates: list[EstimateOut]
    diagnosis: DiagnosisOut | None
    stopped: str | None
    correct: bool | None = Field(None, description="Whether the answer just sent was right.")


class ClassStartOut(BaseModel):
    class_id: int
    sessions: list[dict[str, Any]]


class ProgressStudent(BaseModel):
    id: int
    name: str
    session: SummaryOut | None


class ProgressOut(BaseModel):
    class_: dict[str, Any] = Field(alias="class")
    students: list[ProgressStudent]


async def _with_narrative(
    data: dict[str, Any], db: Any, llm: Router, language: str, observer: AnswerObserver | None
) -> SessionOut:
    diag = data.get("diagnosis")
    if diag is not None and diag.get("narrative") is None:
        result = result_of(diag)
        text = await write(llm, result, reader_language(result, language), observer=observer)
        diag["narrative"] = text.shown()
        await asyncio.to_thread(sessions.save_narrative, db, data["user_id"], data["id"], diag["narrative"])
    return SessionOut.model_validate(data)


@router.post("/students/{user_id}/diagnostic", response_model=SessionOut, status_code=201)
async def start(
    user_id: StudentId, body: StartIn, db: DatabaseDep, p: Principal = require("diagnostic.start")
) -> SessionOut:
    """Start a diagnostic test on a unit or a list of concepts; the answer holds the first question."""
    return SessionOut.model_validate(await asyncio.to_thread(sessions.start, db, user_id, body.spec(), p.limit_key))


@router.get("/students/{user_id}/diagnostic", response_model=list[SummaryOut], dependencies=[require("diagnosis.read")])
async def list_sessions(user_id: StudentId, db: DatabaseDep) -> list[SummaryOut]:
    """A student's diagnostic tests, newest first (one a teacher started is here too)."""
    return [SummaryOut.model_validate(r) for r in await asyncio.to_thread(sessions.list_sessions, db, user_id)]


@router.get(
    "/students/{user_id}/diagnostic/{session_id}", response_model=SessionOut, dependencies=[require("diagnosis.read")]
)
async def get_session(
    user_id: StudentId, session_id: SessionId, db: DatabaseDep, llm: RouterDep, settings: SettingsDep, stack: StackDep
) -> SessionOut:
    """Where a test stands: the pending question, or the diagnosis once it has stopped (resumes after a restart)."""
    data = await asyncio.to_thread(sessions.get, db, user_id, session_id)
    return await _with_narrative(data, db, llm, settings.language, stack.answer_observer)


@router.post(
    "/students/{user_id}/diagnostic/{session_id}/answers",
    response_model=SessionOut,
    dependencies=[require("diagnostic.answer")],
)
async def answer(
    user_id: StudentId,
    session_id: SessionId,
    body: AnswerIn,
    db: DatabaseDep,
    llm: RouterDep,
    settings: SettingsDep,
    stack: StackDep,
) -> SessionOut:
    """Answer the pending question; the reply holds the next one, or the diagnosis when the test stops."""
    a = sessions.Answer(body.question_id, body.answer, body.correct, body.time_taken_ms)
    try:
        data = await asyncio.to_thread(sessions.answer, db, user_id, session_id, a)
    except sessions.SessionConflict as exc:
        raise HTTPException(409, str(exc)) from exc
    return await _with_narrative(data, db, llm, settings.language, stack.answer_observer)


@router.post("/classes/{class_id}/diagnostic", response_model=ClassStartOut, status_code=201)
async def start_class(
    class_id: ClassId, body: StartIn, db: DatabaseDep, p: Principal = require("diagnostic.start")
) -> ClassStartOut:
    """Start the same diagnostic test for every student of a class (students keep an active one of that scope)."""
    data = await asyncio.to_thread(sessions.start_class, db, class_id, body.spec(), p.limit_key)
    return ClassStartOut.model_validate(data)


@router.get("/classes/{class_id}/diagnostic", response_model=ProgressOut, dependencies=[require("class.read")])
async def class_progress(class_id: ClassId, db: DatabaseDep) -> ProgressOut:
    """Who in the class has finished their latest diagnostic test, who is on which question."""
    return ProgressOut.model_validate(await asyncio.to_thread(sessions.class_progress, db, class_id))
