"""The campaign-level decisions of one tick: gateway events, withdrawal, and slot filling.

Only the gateway holding a cluster's scheduler lease decides for that cluster,
so two gateways sharing a database never both admit nodes into one group.
What may start comes from gateway.domain.startable_now over the persisted
runs and the last observed health, every tick: the allowance holds after a
crash, a failure, or a node going down by itself.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from gateway.cluster_managers import Mode
from gateway.domain import (
    ACTIVE_STEPS,
    FAILURE_STEPS,
    TERMINAL_STATES,
    Campaign,
    CampaignEvent,
    CampaignState,
    NodeRun,
    NodeStep,
    exclusion_of,
    next_event,
    open_failures,
)
from gateway.orchestrator.manager_availability import MANAGER_NOTE, ManagerView, with_manager
from gateway.orchestrator.manager_reservations import ReservationBooker
from gateway.orchestrator.settings import ClusterSettings, OrchestratorSettings
from gateway.orchestrator.tick_inputs import RunRow, TickInputs
from gateway.store import GatewayStore, ImageState, NotFoundError
from gateway.store.campaign_records import CampaignRecord, RunRecord
from gateway.store.campaigns import CampaignStore

LOG = logging.getLogger(__name__)
OPEN_STATES = tuple(s.value for s in CampaignState if s not in TERMINAL_STATES)
BUSY_STEPS = tuple(s.value for s in (*ACTIVE_STEPS, NodeStep.FAILED))
ACTIVE_VALUES = frozenset(s.value for s in ACTIVE_STEPS)
# What a worker drives: the busy steps and staging (which takes no host down, so it is
# not busy for the allowance).
DRIVEN_STEPS = (*BUSY_STEPS, NodeStep.STAGE.value)
IMAGE_STATE_S = 1.0  # a withdrawal is acted on within this (plus a tick)


def domain_run(record: RunRecord) -> NodeRun:
    return NodeRun(record.node_id, NodeStep(record.step), record.attempt, record.canary,
                   record.held, record.error)


def domain_campaign(record: CampaignRecord) -> Campaign:
    return Campaign(record.id, record.cluster, CampaignState(record.state),
                    record.failure_budget, record.canaries, len(record.unreached))


class Scheduler:
    """Takes the campaign decisions and starts nodes for the clusters this gateway knows."""

    def __init__(self, store: CampaignStore, images: GatewayStore,
                 clusters: dict[str, ClusterSettings], settings: OrchestratorSettings,
                 owner: str, *,
                 assign: Callable[[Iterable[str]], dict[str, str]] | None = None) -> None:
        self.store = store
        self.images = images
        self.clusters = clusters
        self.settings = settings
        self.owner = owner
        self.manager_view = ManagerView()
        self._manager_notes: dict[str, str | None] = {}  # campaign -> note on its runs
        # Reservation mode (docs/cluster-managers.md): one booker for every such cluster.
        self.reservations = ReservationBooker(
            store, timedelta(seconds=settings.expected_node_s)) if any(
            c.manager is not None and c.manager.mode is Mode.RESERVATION
            for c in clusters.values()) else None
        # node ids -> the gateway to drive each (gateway.orchestrator.membership);
        # None: this gateway drives every node it starts.
        self.assign = assign
        self.inputs = TickInputs()
        self._busy: list[tuple[str, str, str]] = []  # this tick's (campaign, node, busy step)
        self._led: dict[str, float] = {}  # cluster -> when its lease was last renewed
        self._withdrawals: dict[str, tuple[float, bool]] = {}  # image -> (read at, withdrawn)
        self._follow_until: dict[str, float] = {}  # cluster -> when its leader's lease ends

    def tick(self, now: datetime) -> list[str]:
        """One pass over every open campaign; returns the node ids started."""
        started: list[str] = []
        leased: dict[str, bool] = {}
        clock = time.monotonic()
        if self.clusters and all(clock < self._follow_until.get(name, -math.inf)
                                 for name in self.clusters):
            return []  # another gateway leads every cluster of this one, for a while yet
        records = self.store.list_campaigns(OPEN_STATES)
        if self.reservations is not None:
            # Campaigns that ended (or were opened by another gateway) with reservations
            # on record: released here, whatever ended them.
            open_ids = {record.id for record in records}
            records += [self.store.get_campaign(c) for c in
                        sorted(self.store.reservation_campaigns() - open_ids)]
        for record in records:
            if record.cluster in self.clusters and record.cluster not in leased:
                leased[record.cluster] = self._lead(record.cluster)
        # The runs of the campaigns this gateway decides and the busy runs of every
        # campaign, in one statement per tick and only by a gateway that leads a cluster;
        # the nodes a campaign starts are added for the campaigns decided after it.
        decided = [record for record in records if leased.get(record.cluster)]
        states, self._busy = self.store.tick_runs(
            [record.id for record in decided], BUSY_STEPS) if decided else ({}, [])
        for record in decided:
            started += self._decide(record, self.clusters[record.cluster], states[record.id],
                                    now)
        self.inputs.keep_only(record.id for record in records)
        return started

    def leads(self, cluster: str) -> bool:
        """Whether this gateway holds `cluster`'s scheduler lease, as far as it knows
        without a statement: renewed (by ``_lead``) less than a lease ago. Longer ago (a
        stalled gateway, a cluster with no open campaign) it may have lapsed: False."""
        return time.monotonic() - self._led.get(cluster, -math.inf) < self.settings.lease_s

    def _lead(self, cluster: str) -> bool:
        """Whether this gateway leads `cluster`: its lease is renewed once a third of it
        has passed, not every tick (a lease renewed that often cannot lapse in between,
        so no other gateway can have taken it; start_runs checks it again anyway). A
        gateway that does not lead asks again when the leader's lease would expire."""
        clock = time.monotonic()
        if clock - self._led.get(cluster, -math.inf) < self.settings.lease_s / 3:
            return True
        if clock < self._follow_until.get(cluster, -math.inf):
            return False  # another gateway's lease, unexpired: asking again cannot win it
        wait = self.store.lease_wait(f"scheduler:{cluster}", self.owner, self.settings.lease)
        if wait is None:
            self._led[cluster] = clock
            return True
        self._led.pop(cluster, None)
        # Its holder renews it before then, or is dead and it expires: asked again then
        # (a leader's death is noticed as soon as before, at its lease's expiry).
        self._follow_until[cluster] = clock + min(wait, self.settings.lease_s)
        return False

    def _decide(self, record: CampaignRecord, settings: ClusterSettings,
                rows: list[RunRow], now: datetime) -> list[str]:
        runs = self.inputs.runs(record.id, rows)
        campaign = domain_campaign(record)
        booker = self.reservations if settings.manager is not None and (
            settings.manager.mode is Mode.RESERVATION) else None
        if self._withdrawn(record.image_sha256):
            campaign = self._apply(campaign, CampaignEvent.ABORT, runs,
                                   "image withdrawn by its publisher: nothing new starts")
        event = next_event(campaign, runs)
        if event is not None:
            campaign = self._apply(campaign, event, runs,
                                   _reason(event, campaign, runs, record.unreached))
        if campaign.terminal:
            skipped = self.store.skip_pending(record.id, f"campaign {campaign.state.value}")
            if skipped:
                LOG.info("campaign %s %s: %d pending nodes skipped", record.id,
                         campaign.state.value, skipped)
        if campaign.state is not CampaignState.RUNNING:
            if booker is not None:  # the plan shifted: the waves not in flight are released
                booker.sync(campaign, settings, runs, {}, {}, now)
            return []
        health = self.inputs.health(record.cluster, self.store.node_health(record.cluster))
        startable: frozenset[str] | None = None
        if settings.manager is not None:
            statuses = self.manager_view.statuses(settings)
            self._note_manager(record.id, settings.name)
            if statuses is None:
                return []  # the manager cannot say which nodes are free: none is assumed
            health = with_manager(health, statuses, record.id)
            if booker is not None:
                startable = booker.sync(campaign, settings, runs, health, statuses,
                                        now).startable
        busy_elsewhere = {node for campaign, node, _ in self._busy if campaign != record.id}
        active_elsewhere = {node for campaign, node, step in self._busy
                            if campaign != record.id and step in ACTIVE_VALUES}
        expected = (self.settings.expected_reset_s if settings.staged
                    else self.settings.expected_node_s)
        book = self.inputs.book(record.id, settings.cluster, settings.staged)
        admission = book.decide(
            campaign, runs, health, now=now, expected_duration=timedelta(seconds=expected),
            in_flight_elsewhere=len(active_elsewhere),
            global_cap=self.settings.global_max_concurrent,
            busy_elsewhere=frozenset(busy_elsewhere & settings.cluster.node_set()))
        # Only while this gateway still leads the cluster (checked under a lock in the
        # same transaction): two leaders never both admit into one group.
        started: list[str] = []
        start = [n for n in admission.start if startable is None or n in startable]
        for nodes, first, since in ((admission.stage, NodeStep.STAGE, NodeStep.PENDING),
                                    (start, NodeStep.PRECHECK,
                                     NodeStep.STAGED if settings.staged else NodeStep.PENDING)):
            if not nodes:
                continue
            moved = self.store.start_runs(
                record.id, nodes, self.owner, self.settings.lease, first.value,
                leader_lease=f"scheduler:{record.cluster}", from_step=since.value,
                owners=self.assign(nodes) if self.assign else None)
            if moved and first is NodeStep.PRECHECK:
                self._busy += [(record.id, node, first.value) for node in moved]
            if moved:
                LOG.info("campaign %s: %s %s", record.id,
                         "staging" if first is NodeStep.STAGE else "starting", ", ".join(moved))
            started += moved
        return started

    def _note_manager(self, campaign_id: str, cluster: str) -> None:
        """Why nothing starts while the manager cannot tell, on the pending runs (shown
        by the API with each node), cleared once it answers again."""
        problem = self.manager_view.problem.get(cluster)
        note = f"{MANAGER_NOTE}: {problem}" if problem else None
        if self._manager_notes.get(campaign_id, "") != note:  # written on change only
            self.store.note_pending(campaign_id, MANAGER_NOTE, note)
            self._manager_notes[campaign_id] = note

    def _withdrawn(self, sha256: str) -> bool:
        """Whether the image was withdrawn (or is gone), read at most every
        IMAGE_STATE_S: woken ticks come up to five times a second."""
        clock = time.monotonic()
        cached = self._withdrawals.get(sha256)
        if cached is not None and clock - cached[0] < IMAGE_STATE_S:
            return cached[1]
        try:
            withdrawn = self.images.get_image(sha256).state is ImageState.WITHDRAWN
        except NotFoundError:
            withdrawn = True
        self._withdrawals[sha256] = (clock, withdrawn)
        return withdrawn

    def _apply(self, campaign: Campaign, event: CampaignEvent, runs: dict[str, NodeRun],
               reason: str) -> Campaign:
        if campaign.terminal:
            return campaign
        updated = campaign.apply(event, failures=open_failures(runs.values()))
        if self.store.change_campaign_state(campaign.id, campaign.state.value,
                                            updated.state.value, reason=reason,
                                            finished=updated.terminal):
            LOG.warning("campaign %s: %s -> %s (%s)", campaign.id, campaign.state.value,
                        updated.state.value, reason)
            return updated
        return domain_campaign(self.store.get_campaign(campaign.id))  # an operator was first


def _reason(event: CampaignEvent, campaign: Campaign, runs: dict[str, NodeRun],
            unreached: dict[str, str]) -> str:
    if event in (CampaignEvent.FINISH, CampaignEvent.FINISH_WITH_EXCLUSIONS,
                 CampaignEvent.NOTHING_DONE):
        return finish_reason(event, runs, unreached)
    if event is CampaignEvent.CANARY_FAILED:
        failed = [f"{n}: {runs[n].error}" for n in campaign.canaries
                  if n in runs and runs[n].step in FAILURE_STEPS]
        return "canary failed, nothing else is touched: " + "; ".join(failed)
    if event is CampaignEvent.BUDGET_EXCEEDED:
        return (f"failure budget exceeded ({open_failures(runs.values())} failed, budget "
                f"{campaign.failure_budget}): paused, nothing new starts")
    return event.value


def exclusion_lines(runs: dict[str, NodeRun], unreached: dict[str, str]) -> list[str]:
    """One line per reason the campaign could not cover nodes, with its count and the
    first node's detail, e.g. "inventory: 0 of 3 BMCs answered (bmc-1: refused)"."""
    lines = []
    if unreached:
        first = min(unreached)
        lines.append(f"inventory: {len(runs)} of {len(runs) + len(unreached)} BMCs answered "
                     f"({first}: {unreached[first]})")
    by_reason: dict[str, list[NodeRun]] = {}
    for run in runs.values():
        key = exclusion_of(run)
        if key is not None:
            by_reason.setdefault(key, []).append(run)
    for key, excluded in sorted(by_reason.items()):
        first_run = min(excluded, key=lambda r: r.node_id)
        lines.append(f"{key}: {len(excluded)} ({first_run.node_id}: {first_run.error})")
    return lines


def finish_reason(event: CampaignEvent, runs: dict[str, NodeRun],
                  unreached: dict[str, str]) -> str:
    """What the campaign ended with: the nodes per final step and every exclusion."""
    steps = Counter(run.step.value for run in runs.values())
    outcome = ", ".join(f"{count} {step}" for step, count in sorted(steps.items()))
    excluded = "; ".join(exclusion_lines(runs, unreached))
    if event is CampaignEvent.NOTHING_DONE:
        return f"nothing could be done: {excluded}"[:2000]
    if event is CampaignEvent.FINISH_WITH_EXCLUSIONS:
        return f"every node finished ({outcome}); not covered: {excluded}"[:2000]
    return f"every node finished ({outcome or 'no node to update'})"
