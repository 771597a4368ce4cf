"""Where each gateway receives its BMCs' events: a dead member's subscriptions can then be
told from a live one's and removed (gateway/orchestrator/membership.py)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "pg_0002_gateway_events", "slurm_0001_reservations"


def upgrade() -> None:
    with op.batch_alter_table("gateways") as batch:
        batch.add_column(sa.Column("events_url", sa.Text(), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("gateways") as batch:
        batch.drop_column("events_url")
