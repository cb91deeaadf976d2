"""answer checks per day and failing examples

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 21:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_checks",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("route", sa.String(length=50), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("check", sa.String(length=50), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "route", "provider", "model", "check", name=op.f("pk_answer_checks")),
    )
    op.create_table(
        "answer_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("route", sa.String(length=50), nullable=False),
        sa.Column("provider", sa.String(length=50), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=True),
        sa.Column("check", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_examples")),
    )


def downgrade() -> None:
    op.drop_table("answer_examples")
    op.drop_table("answer_checks")
