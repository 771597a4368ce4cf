"""The persistent BMC registry: one row per BMC registered through the API or CLI.

Revision ID: onboard_0001_bmc_registry
Revises: orch_0003_timeline_downgrades
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "onboard_0001_bmc_registry"
down_revision = "orch_0003_timeline_downgrades"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bmc_registrations",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("entry_json", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bmc_registrations")
