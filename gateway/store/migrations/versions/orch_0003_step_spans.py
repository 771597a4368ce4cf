"""Step history of node runs: when each step started and ended (the campaign timeline).

Runs of earlier campaigns have no history; timelines lay those out from the
per-step seconds in ``node_runs.timings`` and say so.

Revision ID: orch_0003_step_spans
Revises: frontdoor_0001_refusals
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "orch_0003_step_spans"
down_revision = "frontdoor_0001_refusals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "node_run_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(24), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_step", sa.String(24), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_node_run_steps_run", "node_run_steps", ["campaign_id", "node_id"])


def downgrade() -> None:
    op.drop_index("ix_node_run_steps_run", table_name="node_run_steps")
    op.drop_table("node_run_steps")
