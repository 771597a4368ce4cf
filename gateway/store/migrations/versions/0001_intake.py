"""Intake tables: alerts, indications_seen, images, image_references.

Revision ID: 0001_intake
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0001_intake", None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("indication_identifier", sa.String(256), nullable=True),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("owning_entity", sa.String(256), nullable=True),
        sa.Column("image_sha256", sa.String(64), nullable=True),
        sa.Column("image_uri", sa.Text(), nullable=True),
        sa.Column("manifest_uri", sa.Text(), nullable=True),
        sa.Column("bundle_id", sa.String(256), nullable=True),
        sa.Column("release", sa.String(256), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("learned_manifest", sa.Text(), nullable=True),
    )
    op.create_index("ix_alerts_received_at", "alerts", ["received_at"])
    op.create_index("ix_alerts_decision", "alerts", ["decision"])
    op.create_index("ix_alerts_image_sha256", "alerts", ["image_sha256"])
    op.create_table(
        "indications_seen",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("indication_identifier", sa.String(256), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.UniqueConstraint("source", "indication_identifier"),
    )
    op.create_table(
        "images",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("image_uri", sa.Text(), nullable=False),
        sa.Column("manifest_uri", sa.Text(), nullable=True),
        sa.Column("bundle_id", sa.String(256), nullable=False),
        sa.Column("release", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("first_alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=True),
        sa.Column("manifest_json", sa.Text(), nullable=True),
        sa.Column("manifest_verified", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("etag", sa.String(256), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_images_state", "images", ["state"])
    op.create_table(
        "image_references",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("image_sha256", sa.String(64), sa.ForeignKey("images.sha256"),
                  nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("image_sha256", "holder"),
    )
    op.create_index("ix_image_references_image_sha256", "image_references", ["image_sha256"])


def downgrade() -> None:
    op.drop_table("image_references")
    op.drop_table("images")
    op.drop_table("indications_seen")
    op.drop_table("alerts")
