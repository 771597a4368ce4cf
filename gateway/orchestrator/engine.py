"""Drives one node run by one step-handler call, and persists the result before anything else.

The engine enforces what every step shares: the step's timeout, retries with
backoff for transient BMC errors, the domain's legal transitions, and the
compare-and-set write (a run is only written while this gateway holds its
lease and the run is still in the step the handler saw).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from firmware_payloads import Manifest
from gateway.domain import (
    OPERATOR_STEPS,
    TERMINAL_STATES,
    NodeInventory,
    NodeRun,
    NodeStep,
    RunProgress,
)
from gateway.media import CapabilityGrant
from gateway.orchestrator.client_pool import ClientPool, stale_shape
from gateway.orchestrator.context import Advance, Stay, StepContext
from gateway.orchestrator.errors import LeaseLostError, StepFailedError
from gateway.orchestrator.inventory import managed_node
from gateway.orchestrator.monitor_notes import TIMEOUT_DETAILS
from gateway.orchestrator.settings import ClusterSettings, OrchestratorSettings
from gateway.orchestrator.signals import SignalInbox
from gateway.orchestrator.steps import HANDLERS
from gateway.redfish import AuthenticationError, RedfishError
from gateway.store import utcnow
from gateway.store.campaign_records import CampaignRecord, ManagedNode, RunRecord
from gateway.store.campaigns import CampaignStore

LOG = logging.getLogger(__name__)
FINAL = frozenset({NodeStep.DONE, NodeStep.SKIPPED, *OPERATOR_STEPS})
# Where a worker lets go of a run: the final steps, and STAGED, which waits for the
# scheduler to admit its reset (and is not finished: its versions have not changed).
PARKED = FINAL | {NodeStep.STAGED}
TERMINAL_VALUES = frozenset(state.value for state in TERMINAL_STATES)


@dataclass(frozen=True)
class StepResult:
    """What one ``Engine.advance`` call left behind: the step the run is in now, the run
    as stored (so the caller need not read it back), and, when the run stays in its
    step, how many seconds until it should be looked at again (None: go on now)."""

    step: NodeStep
    run: RunRecord
    wait_s: float | None = None


@dataclass
class Engine:
    """Carries out node steps for the gateway ``owner`` (its lease owner name)."""

    store: CampaignStore
    settings: OrchestratorSettings
    owner: str
    clients: ClientPool = field(default_factory=ClientPool)
    # Identifies this process: deliveries made by an earlier one may have lost their media.
    epoch: str = field(default_factory=lambda: secrets.token_hex(8))
    # campaign id -> MONITOR seconds of its nodes that finished in this process
    monitor_seconds: dict[str, list[float]] = field(default_factory=dict)
    streaks: dict[str, int] = field(default_factory=dict)
    # Update messages the BMCs pushed (filled by the event receiver, read by MONITOR).
    inbox: SignalInbox = field(default_factory=SignalInbox)
    # node id -> (the run's fence, its inventory as stored): see _known_node.
    _nodes: dict[str, tuple[int, ManagedNode]] = field(default_factory=dict, init=False)

    def advance(self, run: RunRecord, campaign: CampaignRecord, cluster: ClusterSettings,
                manifest: Manifest, media_url: Callable[[], str],
                image_file: Callable[[], Path],
                media_grant: Callable[[str], CapabilityGrant | None] = lambda _url: None,
                ) -> StepResult:
        """Do one piece of work for ``run`` and persist it. Raises LeaseLostError when
        another gateway took the run.

        A handler that stays without changing the run's progress writes nothing: when to
        look again is the caller's to remember (after a crash every run is due at once,
        which re-entrant handlers make safe), and a poll of two hundred nodes every few
        hundred milliseconds no longer costs a database write each."""
        step = NodeStep(run.step)
        now = utcnow()
        stored = run.progress  # the progress as the database has it

        def save_progress(progress: RunProgress) -> None:
            nonlocal stored
            if not self.store.save_run(run.campaign_id, run.node_id, owner=self.owner,
                                       expected_step=run.step, progress=progress):
                raise LeaseLostError(f"node {run.node_id}: lease lost")
            stored = progress

        endpoint = cluster.endpoints.get(run.node_id)
        if endpoint is None:
            return self._fail(run, step, now, f"node {run.node_id} is no longer registered")
        self.clients.set_guard(run.node_id, partial(self._check_fence, run))
        ctx = StepContext(run=run, campaign=campaign, cluster=cluster, endpoint=endpoint,
                          settings=self.settings, manifest=manifest, clients=self.clients,
                          media_url=media_url, image_file=image_file,
                          save_progress=save_progress,
                          observe=partial(self._observe, run, cluster.name),
                          streaks=self.streaks, now=now, epoch=self.epoch,
                          typical_monitor_s=self._typical(run.campaign_id),
                          known_node=partial(self._known_node, run),
                          events=self.clients.pushes_events(run.node_id),
                          pushed=partial(self.inbox.since, run.node_id),
                          campaign_open=lambda: self.store.get_campaign(
                              run.campaign_id).state not in TERMINAL_VALUES,
                          media_grant=media_grant)
        started = run.step_started_at or now
        if step is not NodeStep.FAILED and now - started > self.settings.timeout(step):
            behind = run.progress.behind
            detail = f"; {behind}" if behind else ""
            if step in TIMEOUT_DETAILS:
                detail = f"; {TIMEOUT_DETAILS[step](ctx)}"
            return self._fail(run, step, now, f"{step.value} timed out after "
                              f"{self.settings.timeout(step).total_seconds():.0f} s{detail}")
        try:
            # Within the handler the node's client reads its system at most once
            # (FleetBmcClient.step_begins).
            self.clients.step_begins(run.node_id)
            try:
                outcome = HANDLERS[step](ctx)
            finally:
                self.clients.step_ends(run.node_id)
        except StepFailedError as exc:
            return self._fail(replace(run, progress=ctx.progress), step, now, str(exc))
        except RedfishError as exc:
            self.clients.drop(run.node_id, exc)
            return self._after_error(replace(run, progress=ctx.progress), step, now, exc)
        if isinstance(outcome, Stay):
            kept = outcome.progress if outcome.progress is not None else ctx.progress
            kept = replace(kept, retries=0)
            if kept != stored and not self.store.save_run(
                    run.campaign_id, run.node_id, owner=self.owner, expected_step=run.step,
                    next_action_at=now + timedelta(seconds=outcome.delay_s), progress=kept):
                raise LeaseLostError(f"node {run.node_id}: lease lost")
            return StepResult(step, replace(run, progress=kept), outcome.delay_s)
        return self._advance(run, step, now, ctx.progress, outcome)

    def _observe(self, run: RunRecord, cluster: str, inventory: NodeInventory) -> None:
        node = managed_node(run.node_id, cluster, inventory)
        self.store.upsert_node(node)
        # Kept as the store would give it back (JSON lists, not tuples).
        self._nodes[run.node_id] = (run.fence, replace(
            node, capabilities=json.loads(json.dumps(node.capabilities))))

    def _known_node(self, run: RunRecord) -> ManagedNode | None:
        """The node's stored inventory. While this gateway holds the run's lease (the same
        fence) nobody else writes it but the health refresh of idle nodes, so the one
        this engine last wrote or read is the stored one: not read again per step."""
        cached = self._nodes.get(run.node_id)
        if cached is not None and cached[0] == run.fence:
            return cached[1]
        node = self.store.node(run.node_id)
        if node is not None:
            self._nodes[run.node_id] = (run.fence, node)
        return node

    def _check_fence(self, run: RunRecord) -> None:
        """Before a BMC-changing request: this gateway must still hold the run's lease,
        unexpired on the database's clock, at the fencing counter it read. A database
        that cannot be reached fails the check too (StoreError): no lease, no action."""
        if not self.store.holds(run.campaign_id, run.node_id, self.owner, run.fence):
            raise LeaseLostError(f"node {run.node_id}: lease lost (fence {run.fence}); "
                                 "not touching its BMC")

    def _advance(self, run: RunRecord, step: NodeStep, now: datetime,
                 progress: RunProgress, outcome: Advance) -> StepResult:
        target = outcome.step
        # The domain decides what is legal; a refusal here is a bug, not a node failure.
        domain_run = NodeRun(run.node_id, step, run.attempt, run.canary, run.held, run.error)
        domain_run.to(target)
        fields = dict(outcome.fields)
        new_progress = replace(
            outcome.progress if outcome.progress is not None else progress, retries=0)
        timings = dict(run.timings)
        timings[step.value] = round(timings.get(step.value, 0.0) + _seconds(run, now), 3)
        values: dict[str, Any] = {"step": target.value, "step_started_at": now,
                                  "next_action_at": now, "progress": new_progress,
                                  "timings": timings, **fields}
        if target in PARKED:
            values |= {"lease_owner": None, "lease_expires": None}
        if target in FINAL:
            values["finished_at"] = now
        if not self.store.save_run(run.campaign_id, run.node_id, owner=self.owner,
                                   expected_step=run.step, **values):
            raise LeaseLostError(f"node {run.node_id}: lease lost")
        if target in PARKED:
            self.clients.forget(run.node_id)
            self._nodes.pop(run.node_id, None)
        if target is NodeStep.DONE and "monitor" in timings:
            self._typical(run.campaign_id)  # the stored history first, after a restart
            self.monitor_seconds[run.campaign_id].append(timings["monitor"])
        LOG.info("node %s (%s): %s -> %s", run.node_id, run.campaign_id, step.value,
                 target.value)
        if "packages" in values:
            values["packages"] = tuple(values["packages"])
        return StepResult(target, replace(run, **values, updated_at=now))

    def _typical(self, campaign_id: str) -> float | None:
        """The median MONITOR time of this campaign's finished nodes (None before any).
        After a restart it is learned again from the stored timings."""
        if campaign_id not in self.monitor_seconds:
            self.monitor_seconds[campaign_id] = self.store.monitor_seconds(campaign_id)
        seen = sorted(self.monitor_seconds[campaign_id][-50:])
        return seen[len(seen) // 2] if seen else None

    def _after_error(self, run: RunRecord, step: NodeStep, now: datetime,
                     exc: RedfishError) -> StepResult:
        retries = run.progress.retries + 1
        # A BMC that restarted forgot our session: one fresh login is worth a retry.
        # A URI or capability the BMC gave earlier and now refuses: its firmware may have
        # changed its shape (docs/interop.md, "reshaped-by-bmc-update"). Discovered again
        # from the service root, once; the same refusal after that is the BMC's answer.
        reshaped = retries == 1 and stale_shape(exc)
        if reshaped:
            self.clients.rediscover(run.node_id, f"{step.value}: {exc}")
        transient = exc.transient or reshaped or (
            isinstance(exc, AuthenticationError) and retries == 1)
        if step is NodeStep.FAILED:
            transient = retries < self.settings.retry.attempts
        if not self.settings.retry.should_retry(retries, transient):
            if step is NodeStep.FAILED:
                LOG.error("node %s: could not make it safe: %s", run.node_id, exc)
                return self._quarantine_anyway(run, now, f"{run.error}; making safe: {exc}")
            return self._fail(run, step, now, f"{step.value}: {exc}")
        delay = self.settings.retry.delay(retries)
        if exc.retry_after is not None:  # the BMC said how long; never past the policy's cap
            delay = min(max(delay, exc.retry_after), self.settings.retry.max_delay)
        LOG.warning("node %s: %s (retry %d in %.1f s)", run.node_id, exc, retries, delay)
        retrying = replace(run.progress, retries=retries)
        if not self.store.save_run(run.campaign_id, run.node_id, owner=self.owner,
                                   expected_step=run.step,
                                   next_action_at=now + timedelta(seconds=delay),
                                   progress=retrying):
            raise LeaseLostError(f"node {run.node_id}: lease lost")
        return StepResult(step, replace(run, progress=retrying), delay)

    def _fail(self, run: RunRecord, step: NodeStep, now: datetime, reason: str
              ) -> StepResult:
        if step is NodeStep.FAILED:
            return self._quarantine_anyway(run, now, f"{run.error}; {reason}")
        LOG.warning("node %s (%s) failed in %s: %s", run.node_id, run.campaign_id, step.value,
                    reason)
        NodeRun(run.node_id, step, run.attempt, run.canary, run.held).fail(reason)
        timings = dict(run.timings)
        timings[step.value] = round(timings.get(step.value, 0.0) + _seconds(run, now), 3)
        values: dict[str, Any] = {
            "step": NodeStep.FAILED.value, "error": reason[:1000], "step_started_at": now,
            "next_action_at": now, "timings": timings,
            "progress": replace(run.progress, failed_in=step)}
        if not self.store.save_run(run.campaign_id, run.node_id, owner=self.owner,
                                   expected_step=run.step, **values):
            raise LeaseLostError(f"node {run.node_id}: lease lost")
        return StepResult(NodeStep.FAILED, replace(run, **values, updated_at=now))

    def _quarantine_anyway(self, run: RunRecord, now: datetime, reason: str
                           ) -> StepResult:
        values: dict[str, Any] = {"step": NodeStep.QUARANTINED.value, "error": reason[:1000],
                                  "finished_at": now, "lease_owner": None,
                                  "lease_expires": None}
        if not self.store.save_run(run.campaign_id, run.node_id, owner=self.owner,
                                   expected_step=NodeStep.FAILED.value, **values):
            raise LeaseLostError(f"node {run.node_id}: lease lost")
        self.clients.forget(run.node_id)
        self._nodes.pop(run.node_id, None)
        return StepResult(NodeStep.QUARANTINED, replace(run, **values, updated_at=now))


def _seconds(run: RunRecord, now: datetime) -> float:
    return max(0.0, (now - (run.step_started_at or now)).total_seconds())
