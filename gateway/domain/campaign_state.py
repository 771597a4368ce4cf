"""The campaign state machine: operator actions and the gateway's own decisions.

States: PENDING_APPROVAL (waits for an operator when the cluster requires
approval), RUNNING, PAUSED (by an operator), PAUSED_BUDGET (more nodes failed
than the cluster's failure budget allows), and the terminal COMPLETED (every
node of the cluster was covered), COMPLETED_WITH_EXCLUSIONS (some nodes could
not be inventoried or planned, see exclusion_of), ABORTED and FAILED (a canary
failed: the image is not proven on that model, so nothing else is touched; or
nothing could be done at all). Outside RUNNING nothing new starts; nodes
already in flight are driven to a safe end (done or failed) by the executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from gateway.domain.cluster import AutonomyPolicy, Cluster
from gateway.domain.errors import IllegalTransitionError
from gateway.domain.node_state import FAILURE_STEPS, STAGING_STEPS, NodeRun, NodeStep
from gateway.domain.planner import Exclusion


class CampaignState(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    RUNNING = "running"
    PAUSED = "paused"
    PAUSED_BUDGET = "paused_budget"
    COMPLETED = "completed"
    COMPLETED_WITH_EXCLUSIONS = "completed_with_exclusions"
    ABORTED = "aborted"
    FAILED = "failed"


TERMINAL_STATES: frozenset[CampaignState] = frozenset(
    {CampaignState.COMPLETED, CampaignState.COMPLETED_WITH_EXCLUSIONS, CampaignState.ABORTED,
     CampaignState.FAILED}
)


class WithdrawalPolicy(StrEnum):
    """What a source's withdrawal (FWUP0002) does to nodes already delivering its image
    (docs/configuration.md, [[sources]] withdrawal). Either way the campaign aborts and
    nothing new starts, and every in-flight node ends with its versions read back."""

    FINISH_IN_FLIGHT = "finish_in_flight"  # media kept for nodes delivering: they complete
    STOP_NOW = "stop_now"  # a security withdrawal: the media is refused at once


class CampaignEvent(StrEnum):
    # Operator actions.
    APPROVE = "approve"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    # Decisions the gateway takes itself (see next_event).
    BUDGET_EXCEEDED = "budget_exceeded"
    CANARY_FAILED = "canary_failed"
    FINISH = "finish"
    FINISH_WITH_EXCLUSIONS = "finish_with_exclusions"
    NOTHING_DONE = "nothing_done"


OPERATOR_EVENTS: frozenset[CampaignEvent] = frozenset(
    {CampaignEvent.APPROVE, CampaignEvent.PAUSE, CampaignEvent.RESUME, CampaignEvent.ABORT}
)

_S, _E = CampaignState, CampaignEvent
TRANSITIONS: dict[tuple[CampaignState, CampaignEvent], CampaignState] = {
    (_S.PENDING_APPROVAL, _E.APPROVE): _S.RUNNING,
    (_S.PENDING_APPROVAL, _E.ABORT): _S.ABORTED,
    (_S.PENDING_APPROVAL, _E.NOTHING_DONE): _S.FAILED,
    (_S.RUNNING, _E.PAUSE): _S.PAUSED,
    (_S.RUNNING, _E.ABORT): _S.ABORTED,
    (_S.RUNNING, _E.BUDGET_EXCEEDED): _S.PAUSED_BUDGET,
    (_S.RUNNING, _E.CANARY_FAILED): _S.FAILED,
    (_S.RUNNING, _E.FINISH): _S.COMPLETED,
    (_S.RUNNING, _E.FINISH_WITH_EXCLUSIONS): _S.COMPLETED_WITH_EXCLUSIONS,
    (_S.RUNNING, _E.NOTHING_DONE): _S.FAILED,
    (_S.PAUSED, _E.RESUME): _S.RUNNING,
    (_S.PAUSED, _E.ABORT): _S.ABORTED,
    (_S.PAUSED, _E.CANARY_FAILED): _S.FAILED,
    (_S.PAUSED_BUDGET, _E.RESUME): _S.RUNNING,
    (_S.PAUSED_BUDGET, _E.PAUSE): _S.PAUSED,
    (_S.PAUSED_BUDGET, _E.ABORT): _S.ABORTED,
    (_S.PAUSED_BUDGET, _E.CANARY_FAILED): _S.FAILED,
}


# Error prefixes the orchestrator writes on a node run, read back by exclusion_of.
OTHER_MODEL_NOTE = "other model"  # NOT_APPLICABLE: the image has no package for the node's model
NOT_APPLICABLE_NOTE = "not applicable"  # a package for the model cannot be applied (reasons follow)
PARTLY_NOTE = "partly not applicable"  # updated, but a package for its model could not be planned
UP_TO_DATE_NOTE = "already at the image's versions"  # SKIPPED by precheck: nothing to do
_PLANNING_EXCLUSIONS = frozenset(
    {Exclusion.NO_ALLOWANCE.value, Exclusion.NO_WINDOW.value, Exclusion.NO_CANARY.value})


def exclusion_of(run: NodeRun) -> str | None:
    """Why inventory or planning could not cover this node (a reason key), or None.

    Keys: ``partly_not_applicable`` (DONE, but a package for the node's model was
    left out: its error starts with PARTLY_NOTE), ``not_applicable`` (the image is
    built for the node's model but cannot be applied: unreadable versions, no
    firmware inventory, a blocked package; the error starts with
    NOT_APPLICABLE_NOTE) and the planning exclusions ``no_allowance``, ``no_window``
    and ``no_canary``. Not exclusions: a node of
    another model (OTHER_MODEL_NOTE), one up to date, failed and quarantined nodes
    (reported as failures), and what an operator decided (held manual-only nodes,
    nodes cleared)."""
    error = run.error or ""
    if run.step is NodeStep.DONE:
        # Updated, verified, yet a package built for its model was left out (its
        # installed version could not be read): the node is only partly covered.
        return "partly_not_applicable" if error.startswith(PARTLY_NOTE + ":") else None
    if run.step is NodeStep.NOT_APPLICABLE or (
            run.step is NodeStep.SKIPPED and error not in _PLANNING_EXCLUSIONS):
        return "not_applicable" if error.startswith(NOT_APPLICABLE_NOTE + ":") else None
    if run.step is NodeStep.SKIPPED:
        return error
    return None


def covered(run: NodeRun) -> bool:
    """The image is on the node: updated and verified (DONE), or found up to date."""
    return run.step is NodeStep.DONE or (
        run.step is NodeStep.SKIPPED and run.error in (UP_TO_DATE_NOTE, Exclusion.UP_TO_DATE.value))


def open_failures(runs: Iterable[NodeRun]) -> int:
    """Nodes that count against the failure budget: failed or quarantined right now."""
    return sum(1 for run in runs if run.step in FAILURE_STEPS)


@dataclass(frozen=True)
class Campaign:
    """One image rolled out to one cluster.

    ``canaries``: node ids of the canary phase (one per model, chosen by the
    planner). ``failure_budget``: copied from the cluster when the campaign
    is created, so a later config change does not alter a running campaign.
    ``unreached``: nodes of the cluster the campaign has no run for (their BMC
    did not answer the inventory): nothing is known about them, so nothing is
    done to them, and the campaign cannot end COMPLETED.
    """

    id: str
    cluster: str
    state: CampaignState
    failure_budget: int
    canaries: tuple[str, ...] = ()
    unreached: int = 0

    def apply(self, event: CampaignEvent, *, failures: int = 0) -> Campaign:
        """Apply ``event``; ``failures`` = open_failures(runs), checked on RESUME.

        Raises IllegalTransitionError (HTTP 409) when the event is not legal in
        the current state, or when RESUME is asked while the failure budget is
        still exceeded.
        """
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise IllegalTransitionError("campaign", self.id, self.state.value, event.value)
        if event is CampaignEvent.RESUME and failures > self.failure_budget:
            raise IllegalTransitionError(
                "campaign", self.id, self.state.value, event.value,
                f"failure budget still exceeded ({failures} failed, budget "
                f"{self.failure_budget}); retry or clear failed nodes first",
            )
        return replace(self, state=target)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


def new_campaign(campaign_id: str, cluster: Cluster, canaries: Iterable[str],
                 unreached: int = 0) -> Campaign:
    """A fresh campaign: RUNNING when the cluster auto-approves, else PENDING_APPROVAL."""
    state = (
        CampaignState.RUNNING
        if cluster.autonomy is AutonomyPolicy.AUTO_APPROVE
        else CampaignState.PENDING_APPROVAL
    )
    return Campaign(campaign_id, cluster.name, state, cluster.failure_budget,
                    tuple(sorted(canaries)), unreached)


def canary_gate_open(campaign: Campaign, runs: Mapping[str, NodeRun]) -> bool:
    """True once every canary verified healthy on the new versions (DONE).

    A canary that precheck found already on the target versions (SKIPPED)
    counts as verified: it runs them and passed its health check.
    """
    return all(
        runs[node].step in (NodeStep.DONE, NodeStep.SKIPPED)
        for node in campaign.canaries
        if node in runs
    )


def next_event(campaign: Campaign, runs: Mapping[str, NodeRun]) -> CampaignEvent | None:
    """The decision the gateway must take now, if any; call after every node change.

    A failed canary fails the campaign; more open failures than the budget
    pause it; nothing left to start or finish ends it (quarantined and held
    manual-only nodes are left for the operator and the report): COMPLETED
    when every node was covered, COMPLETED_WITH_EXCLUSIONS when some could not
    be (unreached, or see exclusion_of), FAILED when none was covered and some
    could not be: nothing could be done. A campaign waiting for approval with
    nothing it could ever start fails at once in that last case.
    """
    if campaign.terminal:
        return None
    if campaign.state is CampaignState.PENDING_APPROVAL:
        startable = any(r.step is NodeStep.PENDING for r in runs.values())
        if not startable and _finish(campaign, runs) is CampaignEvent.NOTHING_DONE:
            return CampaignEvent.NOTHING_DONE
        return None
    if any(runs[n].step in FAILURE_STEPS for n in campaign.canaries if n in runs):
        return CampaignEvent.CANARY_FAILED
    if campaign.state is not CampaignState.RUNNING:
        return None
    if open_failures(runs.values()) > campaign.failure_budget:
        return CampaignEvent.BUDGET_EXCEEDED
    outstanding = any(
        run.active
        or run.step is NodeStep.FAILED
        or run.step in STAGING_STEPS  # a staged node waits for its reset (its window)
        or (run.step is NodeStep.PENDING and not run.held)
        for run in runs.values()
    )
    return None if outstanding else _finish(campaign, runs)


def _finish(campaign: Campaign, runs: Mapping[str, NodeRun]) -> CampaignEvent:
    excluded = campaign.unreached + sum(1 for r in runs.values() if exclusion_of(r))
    if not excluded:
        return CampaignEvent.FINISH
    if any(covered(r) for r in runs.values()):
        return CampaignEvent.FINISH_WITH_EXCLUSIONS
    return CampaignEvent.NOTHING_DONE
