"""The members of a fleet: gateways sharing one database, and their heartbeats.

Each running gateway has one row, keyed by its configured ``name``. Heartbeats
are stamped with the database's clock (``now()`` on PostgreSQL), never the
gateway's, so clock skew between gateways cannot make a live one look dead.
A gateway whose heartbeat is older than ``dead_after`` is dead: its node leases
expire in the same time and are taken over (CampaignStore.claim_runs).

Created by migration ``pg_0001_gateways``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.campaign_tables import NodeRunRow
from gateway.store.database import core_transaction
from gateway.store.errors import StoreError
from gateway.store.models import Base, UTCDateTime
from gateway.store.repository import utcnow


class GatewayRow(Base):
    __tablename__ = "gateways"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    instance: Mapped[str] = mapped_column(String(32))  # random per process
    host: Mapped[str] = mapped_column(String(256))
    pid: Mapped[int] = mapped_column(Integer)
    api_url: Mapped[str] = mapped_column(Text, default="")
    # The URL prefix of every event destination it gives BMCs ("": it receives none).
    events_url: Mapped[str] = mapped_column(Text, default="", server_default="")
    lease_s: Mapped[float] = mapped_column(Float)  # dead when its heartbeat is older
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


_GATEWAYS: sa.Table = GatewayRow.__table__  # type: ignore[assignment]
_RUNS: sa.Table = NodeRunRow.__table__  # type: ignore[assignment]


# A member silent this many leases is gone, not late (a pause, a slow database): what it
# left on BMCs may be removed (Membership.superseded). Its nodes were taken over long ago.
GONE_AFTER_LEASES = 10


class NameInUseError(StoreError):
    """Another running gateway is registered under the same name."""


@dataclass(frozen=True)
class Member:
    """One gateway as the database sees it; ``alive``: heartbeat within ``dead_after``."""

    name: str
    host: str
    pid: int
    api_url: str
    events_url: str
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool
    heartbeat_age_s: float
    gone: bool  # stopped, or silent GONE_AFTER_LEASES leases: not just late
    held_runs: int


def db_now(engine: Engine) -> Any:
    """The database's clock as a SQL expression (PostgreSQL), or this process's clock
    (SQLite: one file, so every gateway using it runs on this machine)."""
    return sa.func.now() if engine.dialect.name == "postgresql" else utcnow()


def db_clock(connection: sa.Connection) -> datetime:
    """The database's time now (PostgreSQL), or this process's (SQLite)."""
    if connection.dialect.name != "postgresql":
        return utcnow()
    value = connection.scalar(sa.select(sa.func.now()))
    assert isinstance(value, datetime)
    return value


@dataclass(eq=False)
class GatewayRegistry:
    """Registration and heartbeats of gateway ``name`` (instance: this process).

    ``pid_alive(pid) -> bool`` tells a registration left by a kill -9 on this host from
    a live one."""

    engine: Engine
    name: str
    instance: str
    _: KW_ONLY
    host: str
    pid: int
    dead_after: timedelta
    pid_alive: Callable[[int], bool] | None = None

    def register(self, api_url: str = "", events_url: str = "") -> None:
        """Claim the name (again: with the addresses now known). Raises NameInUseError
        when a live gateway holds it: its heartbeat is fresh, unless it ran on this host
        under a process that is gone (this gateway restarted after a crash)."""
        now = db_now(self.engine)
        values = {"instance": self.instance, "host": self.host, "pid": self.pid,
                  "api_url": api_url, "events_url": events_url,
                  "lease_s": self.dead_after.total_seconds(),
                  "started_at": now, "heartbeat_at": now,
                  "stopped_at": None}
        try:
            with core_transaction(self.engine) as connection:
                row = connection.execute(sa.select(_GATEWAYS).where(
                    _GATEWAYS.c.name == self.name).with_for_update()).first()
                if row is None:
                    connection.execute(sa.insert(_GATEWAYS).values(name=self.name, **values))
                    return
                if self._live_elsewhere(connection, row):
                    raise NameInUseError(
                        f"gateway name {self.name!r} is in use by a running gateway "
                        f"(host {row.host}, pid {row.pid}); give each gateway its own "
                        "[gateway] name")
                connection.execute(sa.update(_GATEWAYS).where(
                    _GATEWAYS.c.name == self.name).values(**values))
        except IntegrityError as exc:  # another gateway inserted the same name just now
            raise NameInUseError(f"gateway name {self.name!r} is in use by a gateway "
                                 "that started at the same time") from exc

    def _live_elsewhere(self, connection: sa.Connection, row: Any) -> bool:
        if row.stopped_at is not None:
            return False
        if row.heartbeat_at <= db_clock(connection) - self.dead_after:
            return False
        if row.host == self.host and self.pid_alive is not None:
            return bool(row.pid != self.pid and self.pid_alive(row.pid))
        return True

    def heartbeat(self) -> bool:
        """Stamp the heartbeat; False when another process took the name over (this one
        was taken for dead) and must stop acting."""
        with core_transaction(self.engine) as connection:
            result = connection.execute(sa.update(_GATEWAYS).where(
                _GATEWAYS.c.name == self.name, _GATEWAYS.c.instance == self.instance,
            ).values(heartbeat_at=db_now(self.engine)))
            return bool(result.rowcount == 1)

    def deregister(self) -> None:
        """A clean stop: the name is free at once."""
        with core_transaction(self.engine) as connection:
            connection.execute(sa.update(_GATEWAYS).where(
                _GATEWAYS.c.name == self.name, _GATEWAYS.c.instance == self.instance,
            ).values(stopped_at=db_now(self.engine)))

    def live_names(self) -> list[str]:
        """Names of the gateways alive now (heartbeat within their lease), sorted."""
        return [m.name for m in list_members(self.engine) if m.alive]

    def members(self) -> list[Member]:
        return list_members(self.engine)


def list_members(engine: Engine) -> list[Member]:
    """Every registered gateway, with its heartbeat's age on the database's clock and
    how many node runs it holds; alive: not stopped, heartbeat younger than its lease."""
    held = (sa.select(sa.func.count()).where(_RUNS.c.lease_owner == _GATEWAYS.c.name)
            .scalar_subquery())
    with core_transaction(engine) as connection:
        clock = db_clock(connection)
        rows = connection.execute(sa.select(_GATEWAYS, held.label("held"))
                                  .order_by(_GATEWAYS.c.name)).all()
    members = []
    for row in rows:
        age = (clock - row.heartbeat_at).total_seconds()
        stopped = row.stopped_at is not None
        members.append(Member(
            name=row.name, host=row.host, pid=row.pid, api_url=row.api_url,
            events_url=row.events_url,
            started_at=row.started_at, heartbeat_at=row.heartbeat_at,
            stopped_at=row.stopped_at, alive=not stopped and age < row.lease_s,
            heartbeat_age_s=round(max(0.0, age), 3), held_runs=int(row.held or 0),
            gone=stopped or age >= GONE_AFTER_LEASES * row.lease_s))
    return members
