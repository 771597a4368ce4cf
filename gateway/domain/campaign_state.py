"""The campaign state machine: operator actions and the gateway's own decisions.

States: PENDING_APPROVAL (waits for an operator when the cluster requires
approval), RUNNING, PAUSED (by an operator), PAUSED_BUDGET (more nodes failed
than the cluster's failure budget allows), and the terminal COMPLETED,
ABORTED and FAILED (a canary failed: the image is not proven on that model, so
nothing else is touched). Outside RUNNING nothing new starts; nodes already in
flight are driven to a safe end (done or failed) by the executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from gateway.domain.cluster import AutonomyPolicy, Cluster
from gateway.domain.errors import IllegalTransitionError
from gateway.domain.node_state import FAILURE_STEPS, NodeRun, NodeStep


class CampaignState(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    RUNNING = "running"
    PAUSED = "paused"
    PAUSED_BUDGET = "paused_budget"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"


TERMINAL_STATES: frozenset[CampaignState] = frozenset(
    {CampaignState.COMPLETED, CampaignState.ABORTED, CampaignState.FAILED}
)


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


OPERATOR_EVENTS: frozenset[CampaignEvent] = frozenset(
    {CampaignEvent.APPROVE, CampaignEvent.PAUSE, CampaignEvent.RESUME, CampaignEvent.ABORT}
)

_S, _E = CampaignState, CampaignEvent
TRANSITIONS: dict[tuple[CampaignState, CampaignEvent], CampaignState] = {
    (_S.PENDING_APPROVAL, _E.APPROVE): _S.RUNNING,
    (_S.PENDING_APPROVAL, _E.ABORT): _S.ABORTED,
    (_S.RUNNING, _E.PAUSE): _S.PAUSED,
    (_S.RUNNING, _E.ABORT): _S.ABORTED,
    (_S.RUNNING, _E.BUDGET_EXCEEDED): _S.PAUSED_BUDGET,
    (_S.RUNNING, _E.CANARY_FAILED): _S.FAILED,
    (_S.RUNNING, _E.FINISH): _S.COMPLETED,
    (_S.PAUSED, _E.RESUME): _S.RUNNING,
    (_S.PAUSED, _E.ABORT): _S.ABORTED,
    (_S.PAUSED, _E.CANARY_FAILED): _S.FAILED,
    (_S.PAUSED_BUDGET, _E.RESUME): _S.RUNNING,
    (_S.PAUSED_BUDGET, _E.PAUSE): _S.PAUSED,
    (_S.PAUSED_BUDGET, _E.ABORT): _S.ABORTED,
    (_S.PAUSED_BUDGET, _E.CANARY_FAILED): _S.FAILED,
}


def open_failures(runs: Iterable[NodeRun]) -> int:
    """Nodes that count against the failure budget: failed or quarantined right now."""
    return sum(1 for run in runs if run.step in FAILURE_STEPS)


@dataclass(frozen=True)
class Campaign:
    """One image rolled out to one cluster.

    ``canaries``: node ids of the canary phase (one per model, chosen by the
    planner). ``failure_budget``: copied from the cluster when the campaign
    is created, so a later config change does not alter a running campaign.
    """

    id: str
    cluster: str
    state: CampaignState
    failure_budget: int
    canaries: tuple[str, ...] = ()

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


def new_campaign(campaign_id: str, cluster: Cluster, canaries: Iterable[str]) -> Campaign:
    """A fresh campaign: RUNNING when the cluster auto-approves, else PENDING_APPROVAL."""
    state = (
        CampaignState.RUNNING
        if cluster.autonomy is AutonomyPolicy.AUTO_APPROVE
        else CampaignState.PENDING_APPROVAL
    )
    return Campaign(campaign_id, cluster.name, state, cluster.failure_budget,
                    tuple(sorted(canaries)))


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
    pause it; nothing left to start or finish completes it (quarantined and
    held manual-only nodes are left for the operator and the report).
    """
    if campaign.terminal or campaign.state is CampaignState.PENDING_APPROVAL:
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
        or (run.step is NodeStep.PENDING and not run.held)
        for run in runs.values()
    )
    return None if outstanding else CampaignEvent.FINISH
