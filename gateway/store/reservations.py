"""The gateway's own record of the maintenance reservations it booked (reservation mode,
docs/cluster-managers.md), and the waiting notes it leaves on pending runs.

A row is written before the manager is asked to create the reservation and removed
only after the manager deleted it, so after a crash the gateway knows every
reservation it may own, and a reservation without a row is never the gateway's.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gateway.store.campaign_tables import ManagerReservationRow, NodeRunRow
from gateway.store.database import core_transaction
from gateway.store.repository import utcnow

_RESERVATIONS: sa.Table = ManagerReservationRow.__table__  # type: ignore[assignment]
_RUNS: sa.Table = NodeRunRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ReservationRecord:
    """One wave's reservation: ``booked`` once the manager accepted it."""

    name: str
    campaign_id: str
    wave: int
    nodes: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    booked: bool = False


class ManagerReservations:
    """The reservation operations of CampaignStore (a mixin: needs ``engine``)."""

    engine: Engine

    def add_reservation(self, record: ReservationRecord) -> None:
        with core_transaction(self.engine) as connection:
            connection.execute(sa.insert(_RESERVATIONS).values(
                name=record.name, campaign_id=record.campaign_id, wave=record.wave,
                nodes=json.dumps(list(record.nodes)), starts_at=record.starts_at,
                ends_at=record.ends_at, booked=record.booked, created_at=utcnow()))

    def update_reservation(self, name: str, *, booked: bool | None = None,
                           starts_at: datetime | None = None,
                           ends_at: datetime | None = None) -> None:
        values = {key: value for key, value in (("booked", booked), ("starts_at", starts_at),
                                                 ("ends_at", ends_at)) if value is not None}
        with core_transaction(self.engine) as connection:
            connection.execute(sa.update(_RESERVATIONS).where(
                _RESERVATIONS.c.name == name).values(**values))

    def drop_reservation(self, name: str) -> None:
        with core_transaction(self.engine) as connection:
            connection.execute(sa.delete(_RESERVATIONS).where(_RESERVATIONS.c.name == name))

    def reservation_campaigns(self) -> set[str]:
        """Every campaign with a reservation on record."""
        with core_transaction(self.engine) as connection:
            return set(connection.scalars(sa.select(_RESERVATIONS.c.campaign_id).distinct()))

    def reservations(self, campaign_id: str) -> list[ReservationRecord]:
        """The campaign's reservations, by wave."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(_RESERVATIONS).where(
                _RESERVATIONS.c.campaign_id == campaign_id).order_by(_RESERVATIONS.c.wave))
            return [ReservationRecord(r.name, r.campaign_id, r.wave, tuple(json.loads(r.nodes)),
                                      r.starts_at, r.ends_at, bool(r.booked)) for r in rows]

    def note_pending(self, campaign_id: str, prefix: str, note: str | None,
                     node_ids: Collection[str] | None = None) -> None:
        """Set `note` (starting with `prefix`) as the error of the campaign's pending
        runs (of `node_ids`, or all) that carry no other error; None clears the notes
        starting with `prefix`. A run's start clears its note (RunLeases.start_runs)."""
        mine = _RUNS.c.error.like(f"{prefix}%")
        conditions = [_RUNS.c.campaign_id == campaign_id, _RUNS.c.step == "pending"]
        if node_ids is not None:
            conditions.append(_RUNS.c.node_id.in_(list(node_ids)))
        if note is None:
            conditions.append(mine)
        else:
            conditions.append(sa.or_(_RUNS.c.error.is_(None), mine))
        with core_transaction(self.engine) as connection:
            connection.execute(sa.update(_RUNS).where(*conditions).values(
                error=note[:1000] if note else None, updated_at=utcnow()))
