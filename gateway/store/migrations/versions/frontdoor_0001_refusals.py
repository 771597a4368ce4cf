"""Refusal counts: one row per listener, client address, reason and time bucket."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "frontdoor_0001_refusals", "orch_0002_campaign_generations"


def upgrade() -> None:
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_sample", sa.String(256), nullable=False),
        sa.Column("source", sa.String(128), nullable=True),
        sa.UniqueConstraint("channel", "client_address", "reason", "bucket_start"),
    )
    op.create_index("ix_refusals_bucket_start", "refusals", ["bucket_start"])
    op.create_index("ix_refusals_last_at", "refusals", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_refusals_last_at", table_name="refusals")
    op.drop_index("ix_refusals_bucket_start", table_name="refusals")
    op.drop_table("refusals")
