"""Leases on node runs, for one gateway or several sharing one database.

A run in a busy step is driven by the gateway holding its lease (owner,
expiry). Expiry is reckoned on the database's clock (PostgreSQL ``now()``), so
clock skew between gateways cannot shorten or stretch a lease. Every time a
run is leased to a gateway that did not hold it (start, takeover) its fencing
counter ``fence`` goes up; a gateway checks that it still holds the run at the
fence it read (``holds``) right before each BMC-changing request, so a gateway
whose lease lapsed (a pause, a partition from the database) never acts on a
node another gateway took.

Takeover of expired leases uses ``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL: gateways claiming at the same moment take disjoint rows instead of
queueing on each other's locks (SQLite ignores the clause; it has one writer).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from gateway.domain import PARTLY_NOTE
from gateway.store.campaign_tables import LeaseRow, NodeRunRow
from gateway.store.database import core_transaction
from gateway.store.gateways import db_now
from gateway.store.step_spans import record_step
from gateway.store.work_notices import notify_owners

_RUNS: sa.Table = NodeRunRow.__table__  # type: ignore[assignment]  # a declarative Table
_LEASES: sa.Table = LeaseRow.__table__  # type: ignore[assignment]


def _holds(clock: sa.ColumnElement[datetime]) -> sa.Select[tuple[int]]:
    return sa.select(_RUNS.c.fence).where(
        _RUNS.c.campaign_id == sa.bindparam("k_campaign"),
        _RUNS.c.node_id == sa.bindparam("k_node"),
        _RUNS.c.lease_owner == sa.bindparam("k_owner"),
        _RUNS.c.fence == sa.bindparam("k_fence"), _RUNS.c.lease_expires > clock)


# Built once: checked before every BMC-changing request of every node.
_HOLDS_AT = _holds(sa.bindparam("k_now", type_=_RUNS.c.lease_expires.type))
_HOLDS_DB_CLOCK = _holds(sa.func.now())


class RunLeases:
    """The lease operations of CampaignStore (a mixin: needs ``engine``)."""

    engine: Engine

    def start_runs(self, campaign_id: str, node_ids: Iterable[str], owner: str,
                   lease: timedelta, first_step: str, *,
                   owners: Mapping[str, str] | None = None,
                   leader_lease: str | None = None, from_step: str = "pending") -> list[str]:
        """PENDING -> `first_step` for each node still pending and not held, leased to
        ``owners[node]`` (default `owner`). With `leader_lease`, only while `owner` holds
        that named lease, checked under a lock on it in the same transaction, so a
        scheduler whose leadership lapsed mid-decision admits nothing. Returns the ids
        actually started (a node already taken is left out).
        ``from_step="staged"``: a staged node's reset is admitted; its progress (what
        was staged) and start time are kept."""
        now = db_now(self.engine)
        started: list[str] = []
        fresh: dict[str, Any] = {} if from_step != "pending" else {
            "started_at": now, "progress": "{}",
            # A planning note (PARTLY_NOTE) stays for the report; others go.
            "error": sa.case((NodeRunRow.error.like(f"{PARTLY_NOTE}:%"), NodeRunRow.error),
                             else_=None)}
        with core_transaction(self.engine) as connection:
            if leader_lease is not None and not connection.scalar(
                    sa.select(_LEASES.c.name).where(
                        _LEASES.c.name == leader_lease, _LEASES.c.owner == owner,
                        _LEASES.c.expires > now).with_for_update()):
                return []
            start = sa.update(_RUNS).where(  # built once, executed per node
                _RUNS.c.campaign_id == campaign_id, _RUNS.c.node_id == sa.bindparam("k_node"),
                _RUNS.c.step == from_step, _RUNS.c.held.is_(False),
            ).values(step=first_step, lease_owner=sa.bindparam("b_owner", type_=sa.String()),
                     lease_expires=now + lease, fence=_RUNS.c.fence + 1,
                     step_started_at=now, next_action_at=now, updated_at=now, **fresh)
            for node in node_ids:
                result = connection.execute(
                    start, {"k_node": node, "b_owner": (owners or {}).get(node, owner)})
                if result.rowcount == 1:
                    started.append(node)
                    record_step(connection, campaign_id, node, first_step, now, None,
                                left=from_step)
            # The other members driving some of them look at once, not at their next
            # sweep (sent on commit: they find the rows).
            notify_owners(connection, {(owners or {}).get(node, owner)
                                       for node in started} - {owner})
        return started

    def claim_runs(self, owner: str, lease: timedelta, steps: Collection[str],
                   campaign_ids: Collection[str], *, members: int = 1) -> int:
        """Renew `owner`'s leases on runs in `steps` of `campaign_ids`, and take over
        unleased or expired ones: all of them with one member, else this gateway's share
        (1/`members`, rounded up) of those waiting; the rest go to the others' claims.
        Returns how many runs `owner` now holds."""
        now = db_now(self.engine)
        in_scope = (_RUNS.c.step.in_(list(steps)),
                    _RUNS.c.campaign_id.in_(list(campaign_ids)))
        with core_transaction(self.engine) as connection:
            connection.execute(sa.update(_RUNS).where(
                *in_scope, _RUNS.c.lease_owner == owner).values(lease_expires=now + lease))
            orphaned = sa.or_(_RUNS.c.lease_owner.is_(None), _RUNS.c.lease_expires < now)
            waiting = int(connection.scalar(
                sa.select(sa.func.count()).select_from(_RUNS).where(*in_scope, orphaned))
                or 0)
            if waiting:
                query = (sa.select(_RUNS.c.campaign_id, _RUNS.c.node_id)
                         .where(*in_scope, orphaned)
                         .order_by(_RUNS.c.lease_expires, _RUNS.c.node_id)
                         .with_for_update(skip_locked=True))
                if members > 1:
                    query = query.limit(math.ceil(waiting / members))
                keys = [(r[0], r[1]) for r in connection.execute(query)]
                if keys:
                    connection.execute(sa.update(_RUNS).where(
                        sa.tuple_(_RUNS.c.campaign_id, _RUNS.c.node_id).in_(keys), orphaned,
                    ).values(lease_owner=owner, lease_expires=now + lease,
                             fence=_RUNS.c.fence + 1))
            return int(connection.scalar(sa.select(sa.func.count()).select_from(_RUNS)
                                         .where(*in_scope, _RUNS.c.lease_owner == owner))
                       or 0)

    def holds(self, campaign_id: str, node_id: str, owner: str, fence: int) -> bool:
        """True while `owner` holds the run's lease, unexpired by the database's clock, at
        fencing counter `fence` (what to check before any BMC-changing request)."""
        now = db_now(self.engine)
        with core_transaction(self.engine) as connection:
            return connection.scalar(
                _HOLDS_AT if isinstance(now, datetime) else _HOLDS_DB_CLOCK,
                {"k_campaign": campaign_id, "k_node": node_id, "k_owner": owner,
                 "k_fence": fence, "k_now": now}) is not None

    def take_lease(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Take or renew the named lease `name` (e.g. a cluster's scheduler) for `owner`;
        False while another holds it unexpired."""
        return self.lease_wait(name, owner, ttl) is None

    def lease_wait(self, name: str, owner: str, ttl: timedelta) -> float | None:
        """take_lease, answering None when `owner` has the lease and otherwise the
        seconds until its holder's lease expires on the database's clock (0.0 when
        another gateway took it at the same moment): trying again sooner cannot work,
        since its holder does not give it back before then."""
        now = db_now(self.engine)
        try:
            with core_transaction(self.engine) as connection:
                result = connection.execute(sa.update(_LEASES).where(
                    _LEASES.c.name == name,
                    sa.or_(_LEASES.c.owner == owner, _LEASES.c.expires < now),
                ).values(owner=owner, expires=now + ttl))
                if result.rowcount == 1:
                    return None
                # The holder's expiry, and the database's time (PostgreSQL) to count from.
                held = connection.execute(sa.select(
                    _LEASES.c.expires, *(() if isinstance(now, datetime) else (now,)),
                ).where(_LEASES.c.name == name)).first()
                if held is not None:
                    clock = now if isinstance(now, datetime) else _aware(held[1])
                    return max(0.0, float((held[0] - clock).total_seconds()))
                connection.execute(sa.insert(_LEASES).values(
                    name=name, owner=owner, expires=now + ttl))
        except IntegrityError:
            return 0.0  # another gateway inserted it first
        return None


def _aware(moment: datetime) -> datetime:
    """A clock reading as the store's UTCDateTime columns give them (timezone-aware)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
