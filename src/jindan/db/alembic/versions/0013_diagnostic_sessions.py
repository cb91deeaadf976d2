"""adaptive diagnostic sessions and difficulty calibrations

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diagnostic_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=True),
        sa.Column("started_by", sa.String(length=200), nullable=False),
        sa.Column("scope", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("max_questions", sa.Integer(), nullable=False),
        sa.Column("target_confidence", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_diagnostic_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["class_id"], ["classes.id"], name=op.f("fk_diagnostic_sessions_class_id_classes"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diagnostic_sessions")),
    )
    op.create_index(op.f("ix_diagnostic_sessions_user_id"), "diagnostic_sessions", ["user_id"], unique=False)
    op.create_index(op.f("ix_diagnostic_sessions_class_id"), "diagnostic_sessions", ["class_id"], unique=False)
    op.create_table(
        "diagnostic_calibrations",
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fit_info", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_diagnostic_calibrations")),
    )
    op.create_index(op.f("ix_diagnostic_calibrations_active"), "diagnostic_calibrations", ["active"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_diagnostic_calibrations_active"), table_name="diagnostic_calibrations")
    op.drop_table("diagnostic_calibrations")
    op.drop_index(op.f("ix_diagnostic_sessions_class_id"), table_name="diagnostic_sessions")
    op.drop_index(op.f("ix_diagnostic_sessions_user_id"), table_name="diagnostic_sessions")
    op.drop_table("diagnostic_sessions")
