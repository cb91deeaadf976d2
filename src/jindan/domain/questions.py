"""A question as it enters the bank, validated, with the hash that makes imports idempotent."""

from __future__ import annotations

import hashlib
import json
import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_BODY = 50_000
MAX_TEXT = 100_000


class QuestionIn(BaseModel):
    """Validated question content. Field limits keep a broken file from bloating the bank."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=MAX_BODY)
    subject: str | None = Field(None, max_length=200)
    grade: str | None = Field(None, max_length=50)
    level: int | None = Field(None, ge=0, le=100)
    difficulty: float | None = None
    choices: list[str] | None = Field(None, max_length=50)
    answer: str | None = Field(None, max_length=10_000)
    explanation: str | None = Field(None, max_length=MAX_TEXT)
    concepts: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("difficulty")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("difficulty must be a finite number")
        return v

    @field_validator("concepts")
    @classmethod
    def _concept_names(cls, v: list[str]) -> list[str]:
        cleaned = [c.strip() for c in v if c and c.strip()]
        if any(len(c) > 200 for c in cleaned):
            raise ValueError("a concept name is longer than 200 characters")
        return sorted(set(cleaned))

    def content_hash(self) -> str:
        """SHA-256 over every content field (not the id): equal hash means nothing to update or re-embed."""
        payload = self.model_dump(exclude={"external_id", "source"})
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()
