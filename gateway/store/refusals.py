"""Refused requests, counted: one row per listener, client address, reason and time bucket.

Unauthenticated, forbidden and malformed requests (and connections the front door
cut off) are not alerts: storing one row each let a flood grow the database without
bound. Here a flood from one address costs one row per reason and bucket, holding
the count, the first and last time and the last sample (a short description, never
credentials). Rows older than the retention are purged (`purge_refusals`).
Accepted alerts and alerts refused after authentication stay in `alerts`, one row each.

Created by migration ``frontdoor_0001_refusals``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.errors import StoreError
from gateway.store.models import Base, UTCDateTime

SAMPLE_CHARS = 256


class RefusalRow(Base):
    __tablename__ = "refusals"
    __table_args__ = (UniqueConstraint("channel", "client_address", "reason", "bucket_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    client_address: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    count: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_sample: Mapped[str] = mapped_column(String(SAMPLE_CHARS))
    source: Mapped[str | None] = mapped_column(String(128))


@dataclass(frozen=True)
class RefusalCount:
    """Refusals of one key within one bucket (also what a batch adds to a row)."""

    channel: str
    client_address: str
    reason: str
    bucket_start: datetime
    count: int
    first_at: datetime
    last_at: datetime
    last_sample: str
    source: str | None = None


_FIELDS = tuple(RefusalCount.__dataclass_fields__)


def add_refusals(engine: Engine, counts: Iterable[RefusalCount]) -> None:
    """Add `counts` to their rows (created on first use), in one transaction.
    Raises StoreError."""
    table = RefusalRow
    try:
        with engine.begin() as connection:
            for item in counts:
                key = sa.and_(table.channel == item.channel,
                              table.client_address == item.client_address,
                              table.reason == item.reason,
                              table.bucket_start == item.bucket_start)
                updated = connection.execute(
                    sa.update(table).where(key).values(
                        count=table.count + item.count, last_at=item.last_at,
                        last_sample=item.last_sample[:SAMPLE_CHARS],
                        source=sa.func.coalesce(item.source, table.source)))
                if updated.rowcount == 0:
                    connection.execute(sa.insert(table).values(
                        channel=item.channel, client_address=item.client_address,
                        reason=item.reason, bucket_start=item.bucket_start, count=item.count,
                        first_at=item.first_at, last_at=item.last_at,
                        last_sample=item.last_sample[:SAMPLE_CHARS], source=item.source))
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot record refusals: {exc}") from exc


def list_refusals(engine: Engine, *, limit: int, offset: int = 0,
                  reason: str | None = None) -> tuple[list[RefusalCount], int]:
    """One page of rows, most recently refused first, and the number of rows."""
    table = RefusalRow
    condition = table.reason == reason if reason else sa.true()
    try:
        with engine.connect() as connection:
            total = connection.scalar(sa.select(sa.func.count(table.id))
                                      .where(condition))
            rows = connection.execute(sa.select(table.__table__).where(condition)
                                      .order_by(table.last_at.desc(), table.id.desc())
                                      .offset(offset).limit(limit))
            items = [RefusalCount(**{k: row._mapping[k] for k in _FIELDS}) for row in rows]
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read refusals: {exc}") from exc
    return items, int(total or 0)


def refusal_totals(engine: Engine) -> dict[tuple[str, str], int]:
    """{(channel, reason): refusals} over the rows kept (for /metrics)."""
    table = RefusalRow
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(table.channel, table.reason,
                                                sa.func.sum(table.count))
                                      .group_by(table.channel, table.reason))
            return {(str(c), str(r)): int(n or 0) for c, r, n in rows}
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read refusals: {exc}") from exc


def purge_refusals(engine: Engine, older_than: datetime) -> int:
    """Delete rows whose last refusal is before `older_than`; how many went."""
    table = RefusalRow
    try:
        with engine.begin() as connection:
            return int(connection.execute(sa.delete(table).where(table.last_at < older_than))
                       .rowcount or 0)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot purge refusals: {exc}") from exc
