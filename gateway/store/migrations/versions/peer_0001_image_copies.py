"""Which gateway holds which verified image, for peers to read it from.

Revision ID: peer_0001_image_copies
Revises: onboard_0001_bmc_registry
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "peer_0001_image_copies"
down_revision = "onboard_0001_bmc_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_copies",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("gateway", sa.String(128), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("advertised_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_copies")
