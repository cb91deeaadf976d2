"""AI rate limits kept in PostgreSQL: two limiters (two replicas) spend the same bucket."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from jindan.api.limits import Limiter, RateLimited, SharedLimiter, build_limiter
from jindan.db.engine import Database
from jindan.settings_sections import LimitSettings


def cfg(**kw: object) -> LimitSettings:
    return LimitSettings(ai_per_minute={"student": 1, "teacher": 0}, ai_burst=3, **kw)  # type: ignore[arg-type]


def test_a_burst_holds_across_replicas(db: Database) -> None:
    replicas = [SharedLimiter(cfg(), db) for _ in range(3)]
    admitted = 0
    for i in range(9):
        try:
            replicas[i % 3].take("user:1", "student")
            admitted += 1
        except RateLimited as exc:
            assert 0 < exc.retry_after_s <= 60
    assert admitted == 3  # not 3 per replica
    replicas[0].take("user:2", "student")  # another principal has its own bucket


def test_the_bucket_refills_at_the_rate(db: Database) -> None:
    limiter = SharedLimiter(cfg(), db)
    for _ in range(3):
        limiter.take("user:1", "student")
    with pytest.raises(RateLimited):
        limiter.take("user:1", "student")
    with db.engine.begin() as conn:  # 30 s later at 1 per minute: half a request
        conn.execute(text("UPDATE rate_buckets SET at = at - interval '30 seconds'"))
    with pytest.raises(RateLimited) as exc:
        limiter.take("user:1", "student")
    assert exc.value.retry_after_s == pytest.approx(30, abs=1)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE rate_buckets SET at = at - interval '31 seconds'"))
    limiter.take("user:1", "student")


def test_a_role_without_a_rate_is_refused_without_a_query(db: Database) -> None:
    with pytest.raises(RateLimited):
        SharedLimiter(cfg(), db).take("user:1", "teacher")


def test_postgresql_away_falls_back_to_this_replicas_buckets(db: Database) -> None:
    limiter = SharedLimiter(cfg(), db)
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE rate_buckets RENAME TO rate_buckets_away"))
    for _ in range(3):
        limiter.take("user:1", "student")
    with pytest.raises(RateLimited):
        limiter.take("user:1", "student")


def test_the_store_setting_picks_the_limiter(db: Database) -> None:
    assert isinstance(build_limiter(cfg(), db), SharedLimiter)
    assert isinstance(build_limiter(cfg(store="memory"), db), Limiter)
