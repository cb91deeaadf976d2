"""llm comparisons

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:57:34.810395
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "llm_comparisons",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("route", sa.String(length=50), nullable=False),
        sa.Column("primary_provider", sa.String(length=50), nullable=False),
        sa.Column("primary_model", sa.String(length=200), nullable=False),
        sa.Column("shadow_provider", sa.String(length=50), nullable=False),
        sa.Column("shadow_model", sa.String(length=200), nullable=False),
        sa.Column("primary_text", sa.Text(), nullable=False),
        sa.Column("shadow_text", sa.Text(), nullable=True),
        sa.Column("shadow_error", sa.Text(), nullable=True),
        sa.Column("primary_usage", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("shadow_usage", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("primary_cost_usd", sa.Float(), nullable=False),
        sa.Column("shadow_cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_llm_comparisons")),
    )
    op.create_index(op.f("ix_llm_comparisons_route"), "llm_comparisons", ["route"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_llm_comparisons_route"), table_name="llm_comparisons")
    op.drop_table("llm_comparisons")
