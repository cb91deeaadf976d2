"""Database settings for a shared PostgreSQL: PgBouncer's transaction pooling (no prepared statements, no
session options) and an optional read replica for reports and search results, on real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from jindan.db.engine import Database, connect_args
from jindan.db.models import DiagnosisModelRow, SchoolClass
from jindan.diagnosis.model import fit
from jindan.diagnosis.service import NoModel, class_matrix
from jindan.settings import Settings
from tests.conftest import TEMPLATE

SAME_QUERY = 8  # psycopg prepares a statement on its 5th execution (prepare_threshold) unless told not to


def prepared_after_repeats(db: Database) -> tuple[int, str]:
    with db.engine.connect() as conn:
        for i in range(SAME_QUERY):
            conn.execute(text("SELECT 1 + :n"), {"n": i})
        prepared = conn.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
        timeout = conn.scalar(text("SHOW statement_timeout"))
    return int(prepared or 0), str(timeout)


def test_pgbouncer_mode_prepares_nothing_and_sets_no_session_option(db_url: str, tmp_path: Path) -> None:
    direct = Database(Settings(home=tmp_path, database={"url": db_url}), statement_timeout_s=30)  # type: ignore[arg-type]
    pooled = Database(
        Settings(home=tmp_path, database={"url": db_url, "pgbouncer": True}),  # type: ignore[arg-type]
        statement_timeout_s=30,
    )
    try:
        assert prepared_after_repeats(direct) == (1, "30s")  # the default: prepared, timeout as a startup option
        assert prepared_after_repeats(pooled) == (0, "0")  # nothing a pooled server connection would carry over
    finally:
        direct.close()
        pooled.close()
    args = connect_args(Settings(database={"url": db_url, "pgbouncer": True}), 30)  # type: ignore[arg-type]
    assert args["prepare_threshold"] is None and "options" not in args


@pytest.fixture()
def replica_url(pg_server: Any) -> Iterator[str]:
    """A second database standing in for a streaming replica (what it holds differs from the primary)."""
    name = f"replica_{os.getpid()}"
    admin = pg_server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield make_url(pg_server.get_uri(database=name, driver="psycopg")).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_reports_read_from_the_replica_and_never_write_there(db_url: str, replica_url: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database={"url": db_url, "read_url": replica_url})  # type: ignore[arg-type]
    db = Database(settings)
    try:
        replica_only = Database(Settings(home=tmp_path, database={"url": replica_url}))  # type: ignore[arg-type]
        model = fit([([1, 1, 2, 2], [1, 0, 1, 1])] * 4, sequence=False)
        with replica_only.session() as s:
            s.add(DiagnosisModelRow(version=model.version, params={"json": model.to_json()}, fit_info={}, active=True))
            klass = SchoolClass(name="복제본 반")
            s.add(klass)
            s.flush()
            class_id = klass.id
        replica_only.close()

        with pytest.raises(NoModel):
            class_matrix(db, class_id)  # the primary has neither the model nor the class
        report = class_matrix(db.replica, class_id)  # the report path reads the replica
        assert report["class"]["name"] == "복제본 반" and report["students"] == []
        with db.reader() as conn:  # search results' questions: the replica too
            assert conn.scalar(text("SELECT count(*) FROM diagnosis_models")) == 1
        with pytest.raises(DBAPIError, match="read-only transaction"), db.replica.session() as s:
            s.add(SchoolClass(name="쓰기 금지"))
    finally:
        db.close()
    alone = Database(Settings(home=tmp_path, database={"url": db_url}))  # type: ignore[arg-type]
    assert alone.replica is alone  # no read_url: every read on the primary
    alone.close()
