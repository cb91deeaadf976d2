from __future__ import annotations

from sqlalchemy import inspect, text

from jindan.db import migrations
from jindan.db.engine import Database

TABLES = {
    "users",
    "classes",
    "class_members",
    "concepts",
    "questions",
    "question_concepts",
    "assessments",
    "attempts",
    "responses",
    "diagnoses",
}


def test_schema_up_down_up(db: Database) -> None:
    assert migrations.current(db.engine) == migrations.head()
    assert set(inspect(db.engine).get_table_names()) >= TABLES

    migrations.downgrade(db.engine, "base")
    assert migrations.current(db.engine) is None
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}  # every migration's tables gone
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM pg_type WHERE typname = 'user_role'")) == 0

    migrations.upgrade(db.engine)
    assert migrations.current(db.engine) == migrations.head()
    assert set(inspect(db.engine).get_table_names()) >= TABLES


def test_models_match_migrations(db: Database) -> None:
    """Autogenerate against the migrated schema finds nothing: the ORM and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from jindan.db.models import Base

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_ensure_schema_refuses_outside_embedded(db: Database) -> None:
    import pytest

    migrations.downgrade(db.engine, "base")
    with pytest.raises(migrations.SchemaOutOfDate, match="jindan db upgrade"):
        migrations.ensure_schema(db.engine, auto_upgrade=False)
    migrations.ensure_schema(db.engine, auto_upgrade=True)
    assert migrations.current(db.engine) == migrations.head()
