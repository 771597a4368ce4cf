"""Tables of the gateway store (SQLAlchemy 2 declarative, portable types only).

Schema changes go through Alembic migrations in `gateway/store/migrations`;
these classes must always match the head revision (a unit test checks it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so strip and restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every gateway table."""


class AlertRow(Base):
    """Every alert that reached the gateway, whatever was decided about it."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # cim | cli | rest
    client_address: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(64))
    indication_identifier: Mapped[str | None] = mapped_column(String(256))
    message_id: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    owning_entity: Mapped[str | None] = mapped_column(String(256))
    image_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    image_uri: Mapped[str | None] = mapped_column(Text)
    manifest_uri: Mapped[str | None] = mapped_column(Text)
    bundle_id: Mapped[str | None] = mapped_column(String(256))
    release: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    learned_manifest: Mapped[str | None] = mapped_column(Text)  # JSON, as fetched


class IndicationSeenRow(Base):
    """One row per (source, IndicationIdentifier): the unique key makes replays
    detectable by every gateway sharing the database, without any local lock."""

    __tablename__ = "indications_seen"
    __table_args__ = (UniqueConstraint("source", "indication_identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    indication_identifier: Mapped[str] = mapped_column(String(256))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"))


class ImageRow(Base):
    """An update image known by its SHA-256, and how far its acquisition got.

    state: pending -> downloading -> verified, or -> rejected (verification
    failed) or failed (gave up fetching); any -> withdrawn (FWUP0002).
    """

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(64))
    image_uri: Mapped[str] = mapped_column(Text)
    manifest_uri: Mapped[str | None] = mapped_column(Text)
    bundle_id: Mapped[str] = mapped_column(String(256))
    release: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    first_alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    manifest_json: Mapped[str | None] = mapped_column(Text)
    manifest_verified: Mapped[bool] = mapped_column(default=False)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(String(256))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImageReferenceRow(Base):
    """Something (a campaign) that needs an image kept in the cache.

    Eviction skips every image with at least one reference; holders add
    one when they start and remove it when they finish.
    """

    __tablename__ = "image_references"
    __table_args__ = (UniqueConstraint("image_sha256", "holder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"), index=True)
    holder: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
