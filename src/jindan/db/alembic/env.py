"""Alembic environment: runs on the connection jindan hands over (no URL in alembic.ini)."""

from __future__ import annotations

from alembic import context

from jindan.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - jindan always passes a connection
    raise RuntimeError("Run migrations through `jindan db upgrade`, which supplies the connection.")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
