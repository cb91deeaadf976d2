"""llm_traffic counts the model name a gateway client sent (which client models still reach the legacy APIs)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

KEY = ["day", "route", "provider", "model"]


def upgrade() -> None:
    op.add_column("llm_traffic", sa.Column("client_model", sa.String(length=200), server_default="", nullable=False))
    op.drop_constraint(op.f("pk_llm_traffic"), "llm_traffic", type_="primary")
    op.create_primary_key(op.f("pk_llm_traffic"), "llm_traffic", [*KEY, "client_model"])


def downgrade() -> None:
    # rows that differ only by client model are added together first: no count is lost
    op.execute(
        "CREATE TEMPORARY TABLE llm_traffic_merged AS SELECT day, route, provider, model, "
        "sum(requests)::bigint AS requests, sum(prompt_tokens)::bigint AS prompt_tokens, "
        "sum(completion_tokens)::bigint AS completion_tokens, sum(seconds) AS seconds "
        "FROM llm_traffic GROUP BY day, route, provider, model"
    )
    op.execute("DELETE FROM llm_traffic")
    op.drop_constraint(op.f("pk_llm_traffic"), "llm_traffic", type_="primary")
    op.drop_column("llm_traffic", "client_model")
    op.create_primary_key(op.f("pk_llm_traffic"), "llm_traffic", KEY)
    op.execute("INSERT INTO llm_traffic SELECT day, route, provider, model, requests, prompt_tokens, "
               "completion_tokens, seconds FROM llm_traffic_merged")  # fmt: skip
    op.execute("DROP TABLE llm_traffic_merged")
