"""The persistent BMC registry: one row per BMC registered through the API or CLI."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "onboard_0001_bmc_registry", "orch_0003_timeline_downgrades"


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
