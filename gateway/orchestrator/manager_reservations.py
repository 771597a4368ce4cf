"""Reservation mode: one maintenance reservation per wave, kept in step with the plan.

Every scheduler tick, for a campaign of a cluster whose manager runs in reservation
mode (docs/cluster-managers.md):

- a wave whose nodes all finished, whose window passed, or whose campaign no longer
  runs (a canary failed, an operator paused or aborted it) has its reservation deleted,
  unless one of its nodes is still being updated (a node whose update failed is drained
  first, so it takes no jobs); a wave still being updated near its end has its end
  moved one slot on;
- the pending nodes that no reservation covers are planned into waves
  (gateway.domain.plan_waves), after the waves already booked, and a reservation is
  booked for each: exactly the wave's nodes, from its planned start for one slot. The
  gateway's record (gateway/store/reservations.py) is written before Slurm is asked,
  so after a crash it knows what it may own, and it never deletes a reservation it
  has no record of;
- when nothing is in flight, the next booked wave is moved to start now (Slurm refuses
  when jobs were backfilled up to its planned start; the plan then stands);
- a reservation Slurm refuses is reported on the wave's pending nodes with Slurm's
  message, its busy or otherwise reserved nodes wait one slot, and the wave is planned
  again from the others on the next tick.

A node starts only once its wave's reservation has begun and Slurm shows it idle inside
it (``startable``); the DRAIN step checks that again before its BMC is touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.cluster_managers import (
    ClusterManager,
    ClusterManagerError,
    ManagerUnreachableError,
    NodeStatus,
    ReservationRefusedError,
    drain_reason,
)
from gateway.cluster_managers.config import connect
from gateway.domain import (
    ACTIVE_STEPS,
    FAILURE_STEPS,
    Campaign,
    CampaignState,
    Health,
    NodeRun,
    NodeStep,
    canary_gate_open,
    plan_waves,
)
from gateway.orchestrator.settings import ClusterSettings
from gateway.store.campaigns import CampaignStore
from gateway.store.reservations import ReservationRecord

LOG = logging.getLogger(__name__)
REFUSED_NOTE = "reservation refused by Slurm"
# A reservation starts this far ahead of "now" (Slurm refuses a start in the past).
LEAD = timedelta(seconds=2)
# Slurm's reservations last whole minutes at least (SlurmManager.reserve).
MIN_SLOT = timedelta(seconds=60)
# A refused move (jobs backfilled before the planned start) is asked again this often.
RETRY = timedelta(seconds=10)


@dataclass(frozen=True)
class Booking:
    """What a tick's sync left: the nodes that may start now (their reservation began
    and Slurm shows them idle inside it)."""

    startable: frozenset[str]


def reservation_name(campaign_id: str, start: datetime) -> str:
    """``fleetflash-<campaign>-<start>``: one wave per start time, names never reused."""
    return f"fleetflash-{campaign_id}-{start:%Y%m%dT%H%M%S}"


class ReservationBooker:
    """Keeps one campaign's reservations in step with its runs (see module docstring)."""

    def __init__(self, store: CampaignStore, slot: timedelta) -> None:
        self.store = store
        self.slot = max(slot, MIN_SLOT)
        self._deferred: dict[tuple[str, str], datetime] = {}  # refused node -> until
        self._move_refused: dict[str, datetime] = {}  # reservation -> when

    def sync(self, campaign: Campaign, settings: ClusterSettings,
             runs: Mapping[str, NodeRun], health: Mapping[str, Health],
             statuses: Mapping[str, NodeStatus], now: datetime) -> Booking:
        assert settings.manager is not None
        manager = connect(settings.manager)
        campaign_id = campaign.id
        running = campaign.state is CampaignState.RUNNING
        try:
            kept = self._settle(campaign_id, running, settings, manager, runs, statuses, now)
            if running:
                kept += self._book(campaign_id, canary_gate_open(campaign, runs), settings,
                                   manager, runs, health, statuses, kept, now)
        except ManagerUnreachableError as exc:
            LOG.warning("campaign %s: reservations not synced, Slurm does not answer: %s",
                        campaign_id, exc)
            return Booking(frozenset())
        except ClusterManagerError as exc:
            # Another answer than expected: nothing starts, the next tick asks again.
            LOG.error("campaign %s: reservations not synced: %s", campaign_id, exc)
            return Booking(frozenset())
        if not running:
            return Booking(frozenset())
        startable = {node for record in kept if record.booked and record.starts_at <= now
                     < record.ends_at for node in record.nodes
                     if node in statuses and statuses[node].in_reservation
                     and not statuses[node].jobs}
        return Booking(frozenset(startable))

    # -- what is booked ---------------------------------------------------------

    def _settle(self, campaign_id: str, running: bool, settings: ClusterSettings,
                manager: ClusterManager, runs: Mapping[str, NodeRun],
                statuses: Mapping[str, NodeStatus], now: datetime) -> list[ReservationRecord]:
        """Release the reservations whose wave ended, extend those still in flight;
        returns the ones kept."""
        kept: list[ReservationRecord] = []
        for record in self.store.reservations(campaign_id):
            wave = [runs[n] for n in record.nodes if n in runs]
            in_flight = any(run.step in ACTIVE_STEPS for run in wave)
            pending = any(run.step is NodeStep.PENDING for run in wave)
            if not record.booked and not self._confirm(record, settings, manager):
                continue
            if in_flight:
                kept.append(self._extend(record, manager, now))
            elif not running or not pending or record.ends_at <= now or (
                    record.starts_at <= now and self._vanished(record, settings, manager,
                                                               statuses)):
                self._release(record, settings, manager, runs)
            else:
                kept.append(record)
        return self._pull_forward(kept, manager, now) if running else kept

    def _confirm(self, record: ReservationRecord, settings: ClusterSettings,
                 manager: ClusterManager) -> bool:
        """A record written before a crash cut the booking short: booked if Slurm has it
        (with exactly its nodes), else forgotten."""
        found = manager.reservation(record.name)
        assert settings.manager is not None
        if found is not None and set(found.nodes) == {settings.manager.name_of(n)
                                                       for n in record.nodes}:
            self.store.update_reservation(record.name, booked=True)
            return True
        self.store.drop_reservation(record.name)
        return False

    def _vanished(self, record: ReservationRecord, settings: ClusterSettings,
                  manager: ClusterManager, statuses: Mapping[str, NodeStatus]) -> bool:
        """Its window began but Slurm shows a pending node outside any reservation: gone
        (an operator deleted it)? Asked of Slurm only then."""
        if all(statuses.get(n) is None or statuses[n].in_reservation for n in record.nodes):
            return False
        if manager.reservation(record.name) is not None:
            return False
        LOG.warning("reservation %s is gone from Slurm: its wave is planned again",
                    record.name)
        return True

    def _release(self, record: ReservationRecord, settings: ClusterSettings,
                 manager: ClusterManager, runs: Mapping[str, NodeRun]) -> None:
        assert settings.manager is not None
        found = manager.reservation(record.name)
        names = {settings.manager.name_of(n) for n in record.nodes}
        if found is not None and set(found.nodes) != names:
            # Not what the gateway booked under that name: not the gateway's to delete.
            LOG.warning("reservation %s in Slurm covers %s, not the wave's %s: left alone",
                        record.name, ",".join(found.nodes), ",".join(sorted(names)))
        elif found is not None:
            failed = [settings.manager.name_of(n) for n in record.nodes
                      if n in runs and runs[n].step in FAILURE_STEPS]
            if failed:
                # A node whose update failed must not take jobs when its window closes:
                # drained with the gateway's reason, as in drain mode; the operator
                # resumes it.
                manager.drain(failed, drain_reason(record.campaign_id))
            manager.release(record.name)
        self.store.drop_reservation(record.name)
        LOG.info("reservation %s released (wave of %s)", record.name, ", ".join(record.nodes))

    def _extend(self, record: ReservationRecord, manager: ClusterManager,
                now: datetime) -> ReservationRecord:
        """A wave still being updated keeps its nodes: its end moves one slot on before
        Slurm would hand them back to jobs."""
        if record.ends_at - now > self.slot / 2:
            return record
        end = now + self.slot
        try:
            manager.reschedule(record.name, end)
        except ReservationRefusedError as exc:
            LOG.error("reservation %s could not be extended: %s", record.name, exc)
            return record
        self.store.update_reservation(record.name, ends_at=end)
        return ReservationRecord(record.name, record.campaign_id, record.wave, record.nodes,
                                 record.starts_at, end, record.booked)

    def _pull_forward(self, kept: list[ReservationRecord], manager: ClusterManager,
                      now: datetime) -> list[ReservationRecord]:
        """Nothing in flight and the next wave later than now: ask Slurm to begin it now."""
        if not kept or any(r.starts_at <= now for r in kept):
            return kept
        first = min(kept, key=lambda r: r.starts_at)
        if first.starts_at <= now + LEAD or (
                now - self._move_refused.get(first.name, now - RETRY) < RETRY):
            return kept
        start = now + LEAD
        try:
            manager.reschedule(first.name, start + self.slot, start)
        except ReservationRefusedError as exc:
            self._move_refused[first.name] = now
            LOG.info("reservation %s stays at %s: %s", first.name,
                     first.starts_at.isoformat(), exc)
            return kept
        self.store.update_reservation(first.name, starts_at=start, ends_at=start + self.slot)
        moved = ReservationRecord(first.name, first.campaign_id, first.wave, first.nodes,
                                  start, start + self.slot, first.booked)
        return [moved if r.name == first.name else r for r in kept]

    # -- what to book ---------------------------------------------------------------

    def _book(self, campaign_id: str, gate_open: bool, settings: ClusterSettings,
              manager: ClusterManager, runs: Mapping[str, NodeRun],
              health: Mapping[str, Health], statuses: Mapping[str, NodeStatus],
              kept: list[ReservationRecord], now: datetime) -> list[ReservationRecord]:
        """Plan the uncovered pending nodes into waves after the booked ones and book them
        (the canaries' alone until every canary verified: a failed canary stops the rest,
        and a reservation nobody may use would only keep jobs off the nodes)."""
        assert settings.manager is not None
        covered = {n for record in kept for n in record.nodes}
        waiting = [run for node, run in sorted(runs.items())
                   if run.step is NodeStep.PENDING and not run.held and node not in covered
                   and (gate_open or run.canary)
                   and self._deferred.get((campaign_id, node), now) <= now]
        if not waiting:
            return []
        begin = max([now + LEAD, *(r.ends_at for r in kept)])
        waves = plan_waves(settings.cluster, [r.node_id for r in waiting if r.canary],
                           [r.node_id for r in waiting if not r.canary], health,
                           start=begin, slot=self.slot)
        booked: list[ReservationRecord] = []
        first_wave = max((r.wave for r in kept), default=-1) + 1
        for wave in waves:
            record = ReservationRecord(reservation_name(campaign_id, wave.starts_at),
                                       campaign_id, first_wave + wave.index, wave.node_ids,
                                       wave.starts_at, wave.starts_at + self.slot)
            self.store.add_reservation(record)  # before Slurm is asked: crash-safe
            try:
                manager.reserve(record.name, [settings.manager.name_of(n)
                                              for n in record.nodes],
                                record.starts_at, self.slot)
            except ClusterManagerError as exc:
                self.store.drop_reservation(record.name)
                if not isinstance(exc, ReservationRefusedError):
                    raise
                self._refused(campaign_id, record, statuses, exc, now)
                break  # the later waves are planned again once this one is
            self.store.update_reservation(record.name, booked=True)
            self.store.note_pending(campaign_id, REFUSED_NOTE, None, record.nodes)
            LOG.info("campaign %s: reservation %s booked for %s from %s", campaign_id,
                     record.name, ", ".join(record.nodes), record.starts_at.isoformat())
            booked.append(ReservationRecord(record.name, campaign_id, record.wave,
                                            record.nodes, record.starts_at, record.ends_at,
                                            booked=True))
        return booked

    def _refused(self, campaign_id: str, record: ReservationRecord,
                 statuses: Mapping[str, NodeStatus], exc: ReservationRefusedError,
                 now: datetime) -> None:
        """Slurm's message on the wave's nodes; the nodes Slurm shows busy or in another
        reservation (all of the wave's when none is) wait one slot before they are
        planned again."""
        blocking = [n for n in record.nodes if n in statuses
                    and (statuses[n].jobs or statuses[n].in_reservation)] or list(record.nodes)
        for node in blocking:
            self._deferred[(campaign_id, node)] = now + self.slot
        note = f"{REFUSED_NOTE}: {exc}; the wave is planned again without " \
               f"{', '.join(blocking)} for {self.slot.total_seconds():.0f} s"
        self.store.note_pending(campaign_id, REFUSED_NOTE, note, record.nodes)
        LOG.warning("campaign %s: %s", campaign_id, note)
