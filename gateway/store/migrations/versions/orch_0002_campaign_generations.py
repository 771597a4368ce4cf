"""Campaigns: a generation per (image, cluster), and the nodes a campaign could not reach.

An image may be rolled out again on a cluster once its earlier campaign there
has ended: the unique key becomes (image_sha256, cluster, generation).
``unreached`` is a JSON object node id -> why its BMC could not be inventoried
(those nodes have no run, and the campaign cannot end ``completed``). ``state``
widens to hold ``completed_with_exclusions`` (25 characters).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "orch_0002_campaign_generations", "orch_0001_campaigns"

_OLD_KEY = ["image_sha256", "cluster"]
_NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _old_key_name() -> str:
    """The old unique key's name: the backend's own, or the naming convention's for an
    unnamed one (SQLite)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("campaigns"):
        if list(constraint["column_names"]) == _OLD_KEY and constraint.get("name"):
            return str(constraint["name"])
    return "uq_campaigns_image_sha256_cluster"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite rebuilds the table (copy, drop, rename) and node_runs points at it: the
        # drop would fail the foreign key. Checked again below, once the ids are back.
        # foreign_keys = OFF is a no-op inside a transaction, so this revision must run
        # before any other writes of the same upgrade (it directly follows orch_0001).
        op.execute("PRAGMA foreign_keys = OFF")
        bind = op.get_bind()
        if (bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
                and bind.exec_driver_sql("SELECT 1 FROM node_runs LIMIT 1").first()):
            raise RuntimeError("cannot rebuild campaigns: SQLite kept foreign keys on inside "
                               "an open transaction; run this revision on its own")
    name = _old_key_name()
    with op.batch_alter_table("campaigns", naming_convention=_NAMING) as batch:
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False,
                                   server_default="1"))
        batch.add_column(sa.Column("unreached", sa.Text(), nullable=False,
                                   server_default="{}"))
        batch.alter_column("state", existing_type=sa.String(24), type_=sa.String(32),
                           existing_nullable=False)
        batch.drop_constraint(name, type_="unique")
        batch.create_unique_constraint("uq_campaigns_image_cluster_generation",
                                       ["image_sha256", "cluster", "generation"])
    if sqlite:
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        op.execute("PRAGMA foreign_keys = ON")
        if broken:
            raise RuntimeError(f"campaigns rebuilt with dangling references: {broken[:5]}")


def downgrade() -> None:
    with op.batch_alter_table("campaigns", naming_convention=_NAMING) as batch:
        batch.drop_constraint("uq_campaigns_image_cluster_generation", type_="unique")
        batch.create_unique_constraint("uq_campaigns_image_sha256_cluster", _OLD_KEY)
        batch.alter_column("state", existing_type=sa.String(32), type_=sa.String(24),
                           existing_nullable=False)
        batch.drop_column("unreached")
        batch.drop_column("generation")
