"""Repository of the orchestrator tables: campaigns, node runs, managed nodes, leases.

Every write that must hold across gateways sharing one database is a
conditional UPDATE (compare-and-set on the step, the state or the lease
owner) or rests on a unique key, never on a lock inside this process. A node
run is driven only by the gateway holding its lease; leases expire, so a
crashed gateway's nodes are taken over by whoever claims them next (the same
gateway after a restart claims its own at once).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain import NodeStep, RunProgress
from gateway.store.campaign_records import (
    CampaignRecord,
    ManagedNode,
    NewCampaign,
    NewRun,
    RunRecord,
    StepSpan,
)
from gateway.store.campaign_tables import (
    CampaignRow,
    ManagedNodeRow,
    NodeRunRow,
)
from gateway.store.database import core_transaction, transaction
from gateway.store.errors import NotFoundError, StoreError
from gateway.store.repository import utcnow
from gateway.store.reservations import ManagerReservations
from gateway.store.run_leases import RunLeases
from gateway.store.run_progress import progress_from_json, progress_to_json
from gateway.store.run_writes import node_upsert, run_update
from gateway.store.step_spans import SPANS as _SPANS
from gateway.store.step_spans import record_step

_RUNS: sa.Table = NodeRunRow.__table__  # type: ignore[assignment]  # a declarative Table
_NODES: sa.Table = ManagedNodeRow.__table__  # type: ignore[assignment]
_CAMPAIGNS: sa.Table = CampaignRow.__table__  # type: ignore[assignment]
# Runs the planner finished before they started (nothing to do on those nodes).
_PLANNED_FINISHED = frozenset({NodeStep.NOT_APPLICABLE.value, NodeStep.SKIPPED.value})
_JSON_FIELDS = frozenset({"packages", "before_versions", "target_versions", "after_versions",
                          "timings"})


class CampaignStore(RunLeases, ManagerReservations):
    """Thread-safe repository; each call runs in its own transaction. The lease
    operations (start, claim, fencing, named leases) are in gateway.store.run_leases,
    the cluster manager's reservations in gateway.store.reservations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _transaction(self) -> AbstractContextManager[Session]:
        return transaction(self._sessions)

    # -- campaigns ------------------------------------------------------------

    def create_campaign(self, campaign: NewCampaign, runs: Iterable[NewRun]) -> bool:
        """Insert a campaign and its runs atomically. False when the image already has a
        campaign of that generation on that cluster (another gateway or operator was
        first): nothing is written."""
        now = utcnow()
        try:
            with self._transaction() as session:
                session.add(CampaignRow(
                    **{k: v for k, v in asdict(campaign).items()
                       if k not in ("canaries", "unreached")},
                    canaries=json.dumps(list(campaign.canaries)),
                    unreached=json.dumps(campaign.unreached), created_at=now,
                    updated_at=now))
                session.flush()
                for run in runs:
                    session.add(NodeRunRow(
                        campaign_id=campaign.id, node_id=run.node_id, step=run.step, attempt=1,
                        canary=run.canary, held=run.held, error=run.error, model=run.model,
                        packages=json.dumps(list(run.packages)),
                        before_versions=json.dumps(run.before_versions),
                        target_versions=json.dumps(run.target_versions), after_versions="{}",
                        progress="{}", timings="{}", updated_at=now,
                        finished_at=now if run.step in _PLANNED_FINISHED else None))
        except IntegrityError:
            return False
        return True

    def get_campaign(self, campaign_id: str) -> CampaignRecord:
        """The campaign; NotFoundError when there is none."""
        # Core, not the ORM: workers, the media gate and the scheduler read it often.
        with core_transaction(self.engine) as connection:
            row = connection.execute(sa.select(_CAMPAIGNS).where(
                _CAMPAIGNS.c.id == campaign_id)).first()
        if row is None:
            raise NotFoundError(f"no campaign {campaign_id!r}")
        return _campaign(row)

    def find_campaign(self, image_sha256: str, cluster: str) -> CampaignRecord | None:
        """The newest campaign (highest generation) of the image on the cluster, if any."""
        with core_transaction(self.engine) as connection:
            row = connection.execute(sa.select(_CAMPAIGNS).where(
                _CAMPAIGNS.c.image_sha256 == image_sha256, _CAMPAIGNS.c.cluster == cluster,
            ).order_by(_CAMPAIGNS.c.generation.desc()).limit(1)).first()
        return _campaign(row) if row else None

    def list_campaigns(self, states: Collection[str] = (), cluster: str | None = None
                       ) -> list[CampaignRecord]:
        """Campaigns (optionally only in `states` / of `cluster`), oldest first."""
        query = sa.select(_CAMPAIGNS).order_by(_CAMPAIGNS.c.created_at, _CAMPAIGNS.c.id)
        if states:
            query = query.where(_CAMPAIGNS.c.state.in_(list(states)))
        if cluster is not None:
            query = query.where(_CAMPAIGNS.c.cluster == cluster)
        with core_transaction(self.engine) as connection:
            return [_campaign(r) for r in connection.execute(query)]

    def change_campaign_state(self, campaign_id: str, expected: str, new: str, *,
                              reason: str | None = None, finished: bool = False) -> bool:
        """Compare-and-set the state; False when it was no longer `expected`."""
        now = utcnow()
        values: dict[str, Any] = {"state": new, "updated_at": now}
        if reason is not None:
            values["reason"] = reason
        if finished:
            values["finished_at"] = now
        with self._transaction() as session:
            result = session.execute(sa.update(CampaignRow).where(
                CampaignRow.id == campaign_id, CampaignRow.state == expected).values(**values))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    # -- node runs --------------------------------------------------------------

    def runs(self, campaign_id: str) -> list[RunRecord]:
        """Every run of the campaign, by node id."""
        with self._transaction() as session:
            rows = session.scalars(sa.select(NodeRunRow).where(
                NodeRunRow.campaign_id == campaign_id).order_by(NodeRunRow.node_id))
            return [_run(r) for r in rows]

    def run_states(self, campaign_id: str) -> list[tuple[str, str, int, bool, bool, str | None]]:
        """(node_id, step, attempt, canary, held, error) of every run: what the scheduler
        needs, without decoding the JSON columns (it runs often on large campaigns)."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(
                _RUNS.c.node_id, _RUNS.c.step, _RUNS.c.attempt, _RUNS.c.canary,
                _RUNS.c.held, _RUNS.c.error,
            ).where(_RUNS.c.campaign_id == campaign_id).order_by(_RUNS.c.node_id))
            return [(r[0], r[1], r[2], bool(r[3]), bool(r[4]), r[5]) for r in rows]

    def nodes_in_steps(self, campaign_id: str, steps: Collection[str]) -> dict[str, str]:
        """node id -> step of the campaign's runs in `steps` (one statement for many
        nodes: the media server's gate asks about every node reading its CD)."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(_RUNS.c.node_id, _RUNS.c.step).where(
                _RUNS.c.campaign_id == campaign_id, _RUNS.c.step.in_(list(steps))))
            return {r[0]: r[1] for r in rows}

    def tick_runs(self, campaign_ids: Collection[str], busy_steps: Collection[str]
                  ) -> tuple[dict[str, list[tuple[str, str, int, bool, bool, str | None]]],
                             list[tuple[str, str, str]]]:
        """One statement for a scheduler tick: the run_states rows of each campaign of
        `campaign_ids` (by node id), and (campaign id, node id, step) of
        every run in `busy_steps`, in any campaign."""
        columns = (_RUNS.c.campaign_id, _RUNS.c.node_id, _RUNS.c.step, _RUNS.c.attempt,
                   _RUNS.c.canary, _RUNS.c.held, _RUNS.c.error)
        ids, steps = list(campaign_ids), list(busy_steps)
        query = sa.union_all(
            sa.select(*columns).where(_RUNS.c.campaign_id.in_(ids)),
            sa.select(*columns).where(_RUNS.c.step.in_(steps),
                                      _RUNS.c.campaign_id.not_in(ids)),
        ).order_by("campaign_id", "node_id")
        states: dict[str, list[tuple[str, str, int, bool, bool, str | None]]] = {
            campaign: [] for campaign in ids}
        busy: list[tuple[str, str, str]] = []
        wanted = frozenset(steps)
        with core_transaction(self.engine) as connection:
            for campaign, node, step, attempt, canary, held, error in connection.execute(query):
                if campaign in states:
                    states[campaign].append((node, step, attempt, bool(canary), bool(held),
                                             error))
                if step in wanted:
                    busy.append((campaign, node, step))
        return states, busy

    def node_health(self, cluster: str) -> dict[str, str]:
        """node id -> last observed health of every node of `cluster`."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(_NODES.c.node_id, _NODES.c.health)
                                      .where(_NODES.c.cluster == cluster))
            return {r[0]: r[1] for r in rows}

    def run(self, campaign_id: str, node_id: str) -> RunRecord:
        with core_transaction(self.engine) as connection:
            row = connection.execute(sa.select(_RUNS).where(
                _RUNS.c.campaign_id == campaign_id, _RUNS.c.node_id == node_id)).first()
        if row is None:
            raise NotFoundError(f"node {node_id!r} is not part of campaign {campaign_id!r}")
        return _run(row)

    def runs_of_node(self, node_id: str) -> list[RunRecord]:
        with self._transaction() as session:
            rows = session.scalars(sa.select(NodeRunRow).where(NodeRunRow.node_id == node_id)
                                   .order_by(NodeRunRow.updated_at))
            return [_run(r) for r in rows]

    def busy_nodes(self, steps: Collection[str], *, except_campaign: str | None = None
                   ) -> set[str]:
        """Node ids with a run in `steps` in any campaign other than `except_campaign`."""
        query = sa.select(_RUNS.c.node_id).where(_RUNS.c.step.in_(list(steps)))
        if except_campaign is not None:
            query = query.where(_RUNS.c.campaign_id != except_campaign)
        with core_transaction(self.engine) as connection:
            return set(connection.scalars(query))

    def monitor_seconds(self, campaign_id: str, limit: int = 50) -> list[float]:
        """MONITOR seconds of the campaign's most recently finished (done) runs, oldest
        first: what the executor learns its polling from, read again after a restart."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(_RUNS.c.timings).where(
                _RUNS.c.campaign_id == campaign_id, _RUNS.c.step == NodeStep.DONE.value,
            ).order_by(_RUNS.c.finished_at.desc()).limit(limit))
            seconds = [_loads(r[0], {}).get("monitor") for r in rows]
        return [float(s) for s in reversed(seconds) if isinstance(s, int | float)]

    def due_run_keys(self, owner: str, steps: Collection[str], now: datetime
                     ) -> list[tuple[str, str]]:
        """(campaign id, node id) of the runs leased to `owner` in `steps` whose next
        action is due at `now`, the most overdue first (keys only: the caller loads the
        runs it is not already driving)."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(_RUNS.c.campaign_id, _RUNS.c.node_id).where(
                _RUNS.c.lease_owner == owner, _RUNS.c.step.in_(list(steps)),
                _RUNS.c.lease_expires > now,
                sa.or_(_RUNS.c.next_action_at.is_(None), _RUNS.c.next_action_at <= now),
            ).order_by(_RUNS.c.next_action_at))
            return [(r[0], r[1]) for r in rows]

    def leased_keys(self, owner: str, steps: Collection[str]) -> set[tuple[str, str]]:
        """(campaign id, node id) of every run in `steps` leased to `owner`."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(_RUNS.c.campaign_id, _RUNS.c.node_id).where(
                _RUNS.c.lease_owner == owner, _RUNS.c.step.in_(list(steps))))
            return {(r[0], r[1]) for r in rows}

    def save_run(self, campaign_id: str, node_id: str, *, owner: str | None,
                 expected_step: str, expected_attempt: int | None = None,
                 progress: RunProgress | None = None, **fields: Any) -> bool:
        """Compare-and-set a run: only while it is in `expected_step` (and, with `owner`,
        leased to `owner`; with `expected_attempt`, at that attempt). Dict/tuple fields
        and ``progress`` are stored as JSON. False when the run moved on or the lease was lost."""
        values: dict[str, Any] = {k: (json.dumps(list(v) if isinstance(v, tuple) else v)
                      if k in _JSON_FIELDS else v) for k, v in fields.items()}
        if progress is not None:
            values["progress"] = progress_to_json(progress)
        values["updated_at"] = utcnow()
        statement = run_update(values, owner=owner is not None,
                               attempt=expected_attempt is not None)
        params = {f"v_{name}": value for name, value in values.items()} | {
            "k_campaign": campaign_id, "k_node": node_id, "k_step": expected_step}
        if owner is not None:
            params["k_owner"] = owner
        if expected_attempt is not None:
            params["k_attempt"] = expected_attempt
        with core_transaction(self.engine) as connection:
            result = connection.execute(statement, params)
            changed = bool(result.rowcount == 1)
            if changed and values.get("step", expected_step) != expected_step:
                at = fields.get("step_started_at") or values["updated_at"]
                record_step(connection, campaign_id, node_id, str(values["step"]), at,
                             values.get("error"), left=expected_step)
            return changed

    def step_spans(self, campaign_id: str) -> list[StepSpan]:
        """The step history of every run of the campaign, by node then time."""
        with core_transaction(self.engine) as connection:
            rows = connection.execute(sa.select(_SPANS).where(
                _SPANS.c.campaign_id == campaign_id,
            ).order_by(_SPANS.c.node_id, _SPANS.c.started_at, _SPANS.c.id))
            return [StepSpan(node_id=r.node_id, attempt=r.attempt, step=r.step,
                             started_at=r.started_at, ended_at=r.ended_at,
                             next_step=r.next_step, detail=r.detail) for r in rows]

    def skip_pending(self, campaign_id: str, reason: str) -> int:
        """Every PENDING run of the campaign becomes SKIPPED with `reason`; returns how many."""
        now = utcnow()
        with self._transaction() as session:
            result = session.execute(sa.update(NodeRunRow).where(
                NodeRunRow.campaign_id == campaign_id, NodeRunRow.step == NodeStep.PENDING.value,
            ).values(step=NodeStep.SKIPPED.value, error=reason, finished_at=now, updated_at=now))
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- managed nodes ----------------------------------------------------------

    def upsert_node(self, node: ManagedNode) -> None:
        """Store the latest inventory of a node (insert or replace)."""
        values = asdict(node) | {"firmware": json.dumps(node.firmware),
                                 "capabilities": json.dumps(node.capabilities)}
        # An UPDATE first: every step that looks at a node lands here, and the row
        # exists after the first inventory. Two first inventories racing is a bug of
        # the caller (one thread inventories a node), so the INSERT need not retry.
        update, insert = node_upsert(values)
        params = {f"v_{name}": value for name, value in values.items()} | {
            "k_node": node.node_id}
        with core_transaction(self.engine) as connection:
            if connection.execute(update, params).rowcount == 0:
                connection.execute(insert, params)

    def set_health(self, node_id: str, health: str, power_state: str | None = None,
                   firmware: dict[str, str] | None = None) -> None:
        """Record an observation of a known node (unknown ids are ignored)."""
        values: dict[str, Any] = {"health": health, "observed_at": utcnow()}
        if power_state is not None:
            values["power_state"] = power_state
        if firmware is not None:
            values["firmware"] = json.dumps(firmware)
        with self._transaction() as session:
            session.execute(sa.update(ManagedNodeRow).where(
                ManagedNodeRow.node_id == node_id).values(**values))

    def node(self, node_id: str) -> ManagedNode | None:
        """The last inventory of one node, or None if it was never inventoried."""
        with core_transaction(self.engine) as connection:
            row = connection.execute(sa.select(_NODES).where(
                _NODES.c.node_id == node_id)).first()
        return _node(row) if row else None

    def nodes(self, cluster: str | None = None) -> list[ManagedNode]:
        with self._transaction() as session:
            query = sa.select(ManagedNodeRow).order_by(ManagedNodeRow.node_id)
            if cluster is not None:
                query = query.where(ManagedNodeRow.cluster == cluster)
            return [_node(r) for r in session.scalars(query)]

def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StoreError("a stored JSON column is corrupt") from exc


def _campaign(row: CampaignRow | sa.Row[Any]) -> CampaignRecord:
    return CampaignRecord(
        id=row.id, cluster=row.cluster, image_sha256=row.image_sha256,
        bundle_id=row.bundle_id, release=row.release, state=row.state,
        failure_budget=row.failure_budget, canaries=tuple(_loads(row.canaries, [])),
        reason=row.reason or "", planned_waves=row.planned_waves,
        lower_bound=row.lower_bound, generation=row.generation or 1,
        unreached=_loads(row.unreached, {}), allow_downgrade=bool(row.allow_downgrade),
        created_at=row.created_at,
        updated_at=row.updated_at, finished_at=row.finished_at)


def _run(row: NodeRunRow | sa.Row[Any]) -> RunRecord:
    return RunRecord(
        campaign_id=row.campaign_id, node_id=row.node_id, step=row.step,
        attempt=row.attempt, canary=bool(row.canary), held=bool(row.held), error=row.error,
        model=row.model or "", method=row.method,
        packages=tuple(_loads(row.packages, [])),
        before_versions=_loads(row.before_versions, {}),
        target_versions=_loads(row.target_versions, {}),
        after_versions=_loads(row.after_versions, {}), progress=progress_from_json(row.progress),
        timings=_loads(row.timings, {}), lease_owner=row.lease_owner,
        lease_expires=row.lease_expires, next_action_at=row.next_action_at,
        step_started_at=row.step_started_at, started_at=row.started_at,
        finished_at=row.finished_at, updated_at=row.updated_at, fence=row.fence or 0)


def _node(row: ManagedNodeRow | sa.Row[Any]) -> ManagedNode:
    return ManagedNode(
        node_id=row.node_id, cluster=row.cluster, model=row.model, serial=row.serial,
        health=row.health, power_state=row.power_state,
        firmware=_loads(row.firmware, {}), capabilities=_loads(row.capabilities, {}),
        error=row.error or "", observed_at=row.observed_at)
