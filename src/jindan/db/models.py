"""ORM models of the platform's domain data (PostgreSQL). Schema changes go through Alembic."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    student = "student"
    teacher = "teacher"
    admin = "admin"


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class_members = Table(
    "class_members",
    Base.metadata,
    Column("class_id", ForeignKey("classes.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

question_concepts = Table(
    "question_concepts",
    Base.metadata,
    Column("question_id", ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True),
    Column("concept_id", ForeignKey("concepts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_question_concepts_concept_id", "concept_id"),
)


class SchoolClass(Base):
    __tablename__ = "classes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    teacher_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = _now()
    members: Mapped[list[User]] = relationship(secondary=class_members, back_populates="classes")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(Enum(Role, name="user_role"), default=Role.student)
    created_at: Mapped[datetime] = _now()
    classes: Mapped[list[SchoolClass]] = relationship(secondary=class_members, back_populates="members")


class ServiceKey(Base):
    """A key for the platform's backend or an operator. Only a peppered hash of the key is stored."""

    __tablename__ = "service_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the public part of the key (jdn_<id>_...)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # service | admin
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Concept(Base):
    __tablename__ = "concepts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_questions_source_external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200), index=True)
    grade: Mapped[str | None] = mapped_column(String(50))
    level: Mapped[int | None] = mapped_column(Integer, index=True)
    difficulty: Mapped[float | None] = mapped_column(Float)
    body: Mapped[str] = mapped_column(Text)
    choices: Mapped[list[str] | None] = mapped_column(JSONB)
    answer: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), index=True
    )
    concepts: Mapped[list[Concept]] = relationship(secondary=question_concepts, lazy="selectin")


class Assessment(Base):
    __tablename__ = "assessments"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _now()


class Attempt(Base):
    """One sitting of a student: an assessment or an imported response log."""

    __tablename__ = "attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ResponseRow(Base):
    """One answer. ``question_id`` may be empty for logs that only know the concept (e.g. ASSISTments)."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("attempt_id", "seq", name="uq_responses_attempt_seq"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"))
    concept_id: Mapped[int | None] = mapped_column(ForeignKey("concepts.id", ondelete="SET NULL"), index=True)
    correct: Mapped[bool] = mapped_column(Boolean)
    chosen_answer: Mapped[str | None] = mapped_column(Text)
    time_taken_ms: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime] = _now()


class Diagnosis(Base):
    __tablename__ = "diagnoses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    narrative_student: Mapped[str | None] = mapped_column(Text)
    narrative_teacher: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class LLMComparison(Base):
    """One shadow run: the primary's and the shadow's answer to the same request, for the comparison report."""

    __tablename__ = "llm_comparisons"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = _now()
    route: Mapped[str] = mapped_column(String(50), index=True)
    primary_provider: Mapped[str] = mapped_column(String(50))
    primary_model: Mapped[str] = mapped_column(String(200))
    shadow_provider: Mapped[str] = mapped_column(String(50))
    shadow_model: Mapped[str] = mapped_column(String(200))
    primary_text: Mapped[str] = mapped_column(Text)
    shadow_text: Mapped[str | None] = mapped_column(Text)
    shadow_error: Mapped[str | None] = mapped_column(Text)
    primary_usage: Mapped[dict[str, Any]] = mapped_column(JSONB)
    shadow_usage: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    primary_cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    shadow_cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class LLMTraffic(Base):
    """Answers per day, route, provider and model, with their token counts: what `jindan cost --from-traffic`
    reads. Counts only: no text, no user."""

    __tablename__ = "llm_traffic"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    route: Mapped[str] = mapped_column(String(50), primary_key=True)
    provider: Mapped[str] = mapped_column(String(50), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    # the model name a gateway client sent (``gpt-4o-mini``, ``gemini-1.5-flash``); empty for jindan's own routes
    client_model: Mapped[str] = mapped_column(String(200), primary_key=True, default="", server_default="")
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # answer time, summed


class AnswerCheck(Base):
    """Answer checks per day, route, provider, model and check: ``answer`` counts what students were shown
    (failed: nothing that passed the checks was available), ``model`` the model's own answers (failed: they did
    not pass, so the bank's answer was shown), every other row one check of the model's answers. Counts only."""

    __tablename__ = "answer_checks"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    route: Mapped[str] = mapped_column(String(50), primary_key=True)
    provider: Mapped[str] = mapped_column(String(50), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    check: Mapped[str] = mapped_column(String(50), primary_key=True)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)


class AnswerExample(Base):
    """A model answer that failed a check, kept for reviewers (the student's own words taken out; the last
    few hundred only). No user, no question text: the question id lets a reviewer open it."""

    __tablename__ = "answer_examples"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = _now()
    route: Mapped[str] = mapped_column(String(50))
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    question_id: Mapped[int | None] = mapped_column(BigInteger)
    check: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)


class CompareRun(Base):
    """One `jindan compare`: the same bank questions through several providers, with the summary per provider."""

    __tablename__ = "compare_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = _now()
    route: Mapped[str] = mapped_column(String(50), index=True)
    language: Mapped[str] = mapped_column(String(10))
    providers: Mapped[list[str]] = mapped_column(JSONB)  # "provider/model" labels, in the order asked
    reference: Mapped[str | None] = mapped_column(String(260))
    options: Mapped[dict[str, Any]] = mapped_column(JSONB)  # sample, seed, max_tokens, filters
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | done | failed
    summary: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)


class CompareResult(Base):
    """One answer of one provider to one request of a compare run, with its timings, cost and scores."""

    __tablename__ = "compare_results"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("compare_runs.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    finish_reason: Mapped[str | None] = mapped_column(String(20))
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    total_ms: Mapped[float | None] = mapped_column(Float)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    scores: Mapped[dict[str, Any]] = mapped_column(JSONB)  # correct, leaked, in_language, json_valid, agreement
    created_at: Mapped[datetime] = _now()


class VectorCollection(Base):
    """Spec (model, dimension, distance, index settings) of each pgvector collection jindan manages."""

    __tablename__ = "vector_collections"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()


class VectorAlias(Base):
    __tablename__ = "vector_aliases"
    alias: Mapped[str] = mapped_column(String(100), primary_key=True)
    collection: Mapped[str] = mapped_column(ForeignKey("vector_collections.name", ondelete="CASCADE"))
    switched_at: Mapped[datetime] = _now()


class Material(Base):
    """A learning-material passage (textbook section, worked example) retrievable beside questions."""

    __tablename__ = "materials"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    concepts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    language: Mapped[str | None] = mapped_column(String(10))
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DiagnosisModelRow(Base):
    """A fitted mastery model: its parameters and how it was fitted, versioned; one is active."""

    __tablename__ = "diagnosis_models"
    version: Mapped[str] = mapped_column(String(100), primary_key=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fit_info: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = _now()


class MigrationRun(Base):
    """One pgvector -> Qdrant migration: plan, status and final report (the audit record)."""

    __tablename__ = "migration_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(200))
    plan: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | done | failed
    actor: Mapped[str] = mapped_column(String(100))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MigrationCheckpoint(Base):
    """Append-only: after each written batch, the last key copied in a key range (resume point + history)."""

    __tablename__ = "migration_checkpoints"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_runs.id", ondelete="CASCADE"), index=True)
    range_no: Mapped[int] = mapped_column(Integer)
    lo: Mapped[str | None] = mapped_column(Text)
    hi: Mapped[str | None] = mapped_column(Text)
    last_key: Mapped[str | None] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = _now()


class MigrationEvent(Base):
    """verify / cutover / rollback / sync, with who and when."""

    __tablename__ = "migration_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    target: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB)
    at: Mapped[datetime] = _now()


class RateBucket(Base):
    """Shared AI rate limits: one token bucket per principal, refilled and spent by every replica in one
    statement (PostgreSQL's clock, so replicas' clocks never disagree)."""

    __tablename__ = "rate_buckets"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class JobRow(Base):
    """A job that must run once across replicas (index, re-index, migration run): who holds its lease, until
    when, and how far it got, so every replica can show the progress."""

    __tablename__ = "jobs"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))  # running | done | failed | stopped
    holder: Mapped[str | None] = mapped_column(String(200))  # host:pid of the process running it
    token: Mapped[str | None] = mapped_column(String(64))  # this claim's secret: only its holder writes
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    phase: Mapped[str] = mapped_column(String(200), default="")
    done: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    rate_done: Mapped[int] = mapped_column(BigInteger, default=0)  # done when the current phase started
    rate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # ... and when
    takeovers: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EmbeddingCacheRow(Base):
    """A passage vector by (embedder, sha256 of the text): a replica, a re-index or a restart never embeds the
    same text twice with the same model."""

    __tablename__ = "embedding_cache"
    space: Mapped[str] = mapped_column(String(200), primary_key=True)  # embedder, model, dimension, kind
    text_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian


class DiagnosticSession(Base):
    """One adaptive diagnostic test (진단평가) of a student: its scope, the belief so far, the questions asked
    and the pending one (``state``), and the diagnosis once it stops. A restart resumes it from here."""

    __tablename__ = "diagnostic_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="SET NULL"), index=True)
    started_by: Mapped[str] = mapped_column(String(200))  # the principal's limit key (user:<id> or key:<name>)
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB)  # unit and concept ids
    max_questions: Mapped[int] = mapped_column(Integer)
    target_confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | done
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DiagnosticCalibration(Base):
    """Question and concept difficulties (with standard errors) fitted from stored responses; one is active."""

    __tablename__ = "diagnostic_calibrations"
    version: Mapped[str] = mapped_column(String(100), primary_key=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fit_info: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[datetime] = _now()


class SwitchRow(Base):
    """A switch every replica reads (``legacy``: OpenAI's and Google's own APIs refused), who set it and when."""

    __tablename__ = "switches"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    off: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
