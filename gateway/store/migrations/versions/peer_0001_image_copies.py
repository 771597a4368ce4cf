"""Which gateway holds which verified image, for peers to read it from."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "peer_0001_image_copies", "onboard_0001_bmc_registry"


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
