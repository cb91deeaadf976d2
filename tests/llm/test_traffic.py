"""Answers counted per day, route, provider and model in PostgreSQL: flushes add up, a failed flush loses
nothing, and the service writes its last counts when it stops."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jindan.db.engine import Database
from jindan.db.models import LLMTraffic
from jindan.llm.base import Usage
from jindan.llm.traffic import TrafficLog


def rows(db: Database) -> dict[tuple[str, str], tuple[int, int, int, float]]:
    with db.session() as s:
        return {
            (r.route, r.provider): (r.requests, r.prompt_tokens, r.completion_tokens, r.seconds)
            for r in s.scalars(select(LLMTraffic))
        }


def test_flushes_add_up_per_route_and_provider(db: Database) -> None:
    log = TrafficLog(db)
    assert log.flush() == 0
    log.add("hint", Usage("llamacpp", "smol", prompt_tokens=300, completion_tokens=20, total_ms=1000))
    log.add("hint", Usage("llamacpp", "smol", prompt_tokens=100, completion_tokens=10, total_ms=500))
    log.add("chat", Usage("ollama", "qwen2.5:7b", prompt_tokens=50, completion_tokens=5, total_ms=250))
    assert log.flush() == 2
    log.add("hint", Usage("llamacpp", "smol", prompt_tokens=1, completion_tokens=1, total_ms=500))
    assert log.flush() == 1
    assert rows(db) == {("hint", "llamacpp"): (3, 401, 31, 2.0), ("chat", "ollama"): (1, 50, 5, 0.25)}


def test_a_failed_flush_keeps_its_counts_for_the_next(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    log = TrafficLog(db)
    log.add("hint", Usage("llamacpp", "smol", prompt_tokens=10, completion_tokens=2, total_ms=100))

    def down() -> None:
        raise ConnectionError("database restarting")

    with monkeypatch.context() as m:
        m.setattr(db, "session", down)
        with pytest.raises(ConnectionError):
            log.flush()
    log.add("hint", Usage("llamacpp", "smol", prompt_tokens=10, completion_tokens=2, total_ms=100))
    assert log.flush() == 1
    assert rows(db) == {("hint", "llamacpp"): (2, 20, 4, 0.2)}
