"""Several gateways on one database: the gateways table and the node-run fencing counter."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "pg_0001_gateways", "frontdoor_0001_refusals"


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("instance", sa.String(32), nullable=False),
        sa.Column("host", sa.String(256), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("api_url", sa.Text(), nullable=False),
        sa.Column("lease_s", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("node_runs") as batch:
        batch.add_column(sa.Column("fence", sa.Integer(), nullable=False,
                                   server_default="0"))
    # What each gateway holds: its sweep, renewals and /api/gateways count by owner.
    op.create_index("ix_node_runs_lease_owner", "node_runs", ["lease_owner"])


def downgrade() -> None:
    op.drop_index("ix_node_runs_lease_owner", table_name="node_runs")
    with op.batch_alter_table("node_runs") as batch:
        batch.drop_column("fence")
    op.drop_table("gateways")
