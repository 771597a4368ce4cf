"""Orchestrator tables: campaigns, node_runs, managed_nodes, orchestrator_leases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "orch_0001_campaigns", "api_0001_tokens"


def _when(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("cluster", sa.String(64), nullable=False),
        sa.Column("image_sha256", sa.String(64), sa.ForeignKey("images.sha256"),
                  nullable=False),
        sa.Column("bundle_id", sa.String(256), nullable=False),
        sa.Column("release", sa.String(256), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("failure_budget", sa.Integer(), nullable=False),
        sa.Column("canaries", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("planned_waves", sa.Integer(), nullable=False),
        sa.Column("lower_bound", sa.Integer(), nullable=False),
        _when("created_at", False),
        _when("updated_at", False),
        _when("finished_at"),
        sa.UniqueConstraint("image_sha256", "cluster"),
    )
    op.create_index("ix_campaigns_cluster", "campaigns", ["cluster"])
    op.create_index("ix_campaigns_state", "campaigns", ["state"])
    op.create_table(
        "node_runs",
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"),
                  primary_key=True),
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("step", sa.String(24), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("canary", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("method", sa.String(24), nullable=True),
        sa.Column("packages", sa.Text(), nullable=False),
        sa.Column("before_versions", sa.Text(), nullable=False),
        sa.Column("target_versions", sa.Text(), nullable=False),
        sa.Column("after_versions", sa.Text(), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("timings", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        _when("lease_expires"),
        _when("next_action_at"),
        _when("step_started_at"),
        _when("started_at"),
        _when("finished_at"),
        _when("updated_at", False),
    )
    op.create_index("ix_node_runs_step_lease", "node_runs", ["step", "lease_expires"])
    op.create_table(
        "managed_nodes",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("cluster", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("health", sa.String(16), nullable=False),
        sa.Column("power_state", sa.String(16), nullable=False),
        sa.Column("firmware", sa.Text(), nullable=False),
        sa.Column("capabilities", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        _when("observed_at", False),
    )
    op.create_index("ix_managed_nodes_cluster", "managed_nodes", ["cluster"])
    op.create_table(
        "orchestrator_leases",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        _when("expires", False),
    )


def downgrade() -> None:
    op.drop_table("orchestrator_leases")
    op.drop_index("ix_managed_nodes_cluster", "managed_nodes")
    op.drop_table("managed_nodes")
    op.drop_index("ix_node_runs_step_lease", "node_runs")
    op.drop_table("node_runs")
    op.drop_index("ix_campaigns_state", "campaigns")
    op.drop_index("ix_campaigns_cluster", "campaigns")
    op.drop_table("campaigns")
