"""vector collections

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:09:40.796538
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vector_collections",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("spec", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_vector_collections")),
    )
    op.create_table(
        "vector_aliases",
        sa.Column("alias", sa.String(length=100), nullable=False),
        sa.Column("collection", sa.String(length=100), nullable=False),
        sa.Column("switched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection"],
            ["vector_collections.name"],
            name=op.f("fk_vector_aliases_collection_vector_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_vector_aliases")),
    )


def downgrade() -> None:
    tables = op.get_bind().execute(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'vec\\_%'")
    )
    for (name,) in list(tables):
        op.execute(f'DROP TABLE "{name}"')  # the collections' own tables go with their registry
    op.drop_table("vector_aliases")
    op.drop_table("vector_collections")
