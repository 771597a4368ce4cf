"""Step history of node runs (the campaign timeline), and downgrade campaigns.

``node_run_steps``: when each step of a run started and ended. Runs of earlier
campaigns have no history; timelines lay those out from the per-step seconds in
``node_runs.timings`` and say so. ``campaigns.allow_downgrade``: the campaign
may install versions older than a node's (a rollback started by an operator
under a policy that allows it); earlier campaigns did not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "orch_0003_timeline_downgrades", "pg_0001_gateways"


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
    op.add_column("campaigns", sa.Column("allow_downgrade", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("allow_downgrade")
    op.drop_index("ix_node_run_steps_run", table_name="node_run_steps")
    op.drop_table("node_run_steps")
