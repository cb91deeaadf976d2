"""diagnosis models

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 19:41:55.642581
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diagnosis_models",
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fit_info", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_diagnosis_models")),
    )
    op.create_index(op.f("ix_diagnosis_models_active"), "diagnosis_models", ["active"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_diagnosis_models_active"), table_name="diagnosis_models")
    op.drop_table("diagnosis_models")
