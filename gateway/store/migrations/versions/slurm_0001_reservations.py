"""Maintenance reservations the gateway booked in a cluster manager, one row per wave."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "slurm_0001_reservations", "peer_0001_image_copies"


def upgrade() -> None:
    op.create_table(
        "manager_reservations",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"),
                  nullable=False),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("nodes", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_manager_reservations_campaign_id", "manager_reservations",
                    ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_manager_reservations_campaign_id", table_name="manager_reservations")
    op.drop_table("manager_reservations")
