"""Campaign state machine: operator actions, budget pause, canary failure, completion."""

from __future__ import annotations

import pytest

from gateway.domain import (
    AutonomyPolicy,
    Campaign,
    CampaignEvent,
    CampaignState,
    IllegalTransitionError,
    NodeRun,
    NodeStep,
    canary_gate_open,
    exclusion_of,
    new_campaign,
    next_event,
)

from .conftest import simple_cluster

C, E = CampaignState, CampaignEvent
ALL_EVENTS = list(CampaignEvent)
LEGAL = {
    (C.PENDING_APPROVAL, E.APPROVE): C.RUNNING,
    (C.PENDING_APPROVAL, E.ABORT): C.ABORTED,
    (C.PENDING_APPROVAL, E.NOTHING_DONE): C.FAILED,
    (C.RUNNING, E.PAUSE): C.PAUSED,
    (C.RUNNING, E.ABORT): C.ABORTED,
    (C.RUNNING, E.BUDGET_EXCEEDED): C.PAUSED_BUDGET,
    (C.RUNNING, E.CANARY_FAILED): C.FAILED,
    (C.RUNNING, E.FINISH): C.COMPLETED,
    (C.RUNNING, E.FINISH_WITH_EXCLUSIONS): C.COMPLETED_WITH_EXCLUSIONS,
    (C.RUNNING, E.NOTHING_DONE): C.FAILED,
    (C.PAUSED, E.RESUME): C.RUNNING,
    (C.PAUSED, E.ABORT): C.ABORTED,
    (C.PAUSED, E.CANARY_FAILED): C.FAILED,
    (C.PAUSED_BUDGET, E.RESUME): C.RUNNING,
    (C.PAUSED_BUDGET, E.PAUSE): C.PAUSED,
    (C.PAUSED_BUDGET, E.ABORT): C.ABORTED,
    (C.PAUSED_BUDGET, E.CANARY_FAILED): C.FAILED,
}


@pytest.mark.parametrize("state", list(CampaignState))
@pytest.mark.parametrize("event", ALL_EVENTS)
def test_every_state_event_pair(state: CampaignState, event: CampaignEvent) -> None:
    campaign = Campaign("k1", "c1", state, failure_budget=1)
    expected = LEGAL.get((state, event))
    if expected is None:
        with pytest.raises(IllegalTransitionError) as caught:
            campaign.apply(event)
        assert caught.value.entity == "campaign" and caught.value.requested == event.value
    else:
        assert campaign.apply(event).state is expected


def test_resume_is_refused_while_the_budget_is_still_exceeded() -> None:
    paused = Campaign("k1", "c1", C.PAUSED_BUDGET, failure_budget=1)
    with pytest.raises(IllegalTransitionError, match="2 failed, budget 1"):
        paused.apply(E.RESUME, failures=2)
    assert paused.apply(E.RESUME, failures=1).state is C.RUNNING


def test_autonomy_policy_decides_the_first_state() -> None:
    auto = simple_cluster({"g": (2, 1)}, autonomy=AutonomyPolicy.AUTO_APPROVE)
    manual = simple_cluster({"g": (2, 1)}, autonomy=AutonomyPolicy.REQUIRE_APPROVAL, budget=3)
    assert new_campaign("k", auto, ["g-1"]).state is C.RUNNING
    gated = new_campaign("k", manual, ["g-1"])
    assert (gated.state, gated.failure_budget, gated.canaries) == (C.PENDING_APPROVAL, 3,
                                                                    ("g-1",))


def runs_of(**steps: NodeStep) -> dict[str, NodeRun]:
    return {node: NodeRun(node, step, canary=node.startswith("c")) for node, step in steps.items()}


@pytest.mark.parametrize(
    ("description", "state", "runs", "expected"),
    [
        ("canary failed", C.RUNNING, runs_of(c1=NodeStep.FAILED, n1=NodeStep.PENDING),
         E.CANARY_FAILED),
        ("canary quarantined while paused", C.PAUSED,
         runs_of(c1=NodeStep.QUARANTINED), E.CANARY_FAILED),
        ("budget 1, two failures", C.RUNNING,
         runs_of(c1=NodeStep.DONE, n1=NodeStep.QUARANTINED, n2=NodeStep.FAILED,
                 n3=NodeStep.PENDING), E.BUDGET_EXCEEDED),
        ("budget 1, one failure, work left", C.RUNNING,
         runs_of(c1=NodeStep.DONE, n1=NodeStep.QUARANTINED, n3=NodeStep.PENDING), None),
        ("active node left", C.RUNNING, runs_of(c1=NodeStep.DONE, n1=NodeStep.VERIFY), None),
        ("all done but one quarantined", C.RUNNING,
         runs_of(c1=NodeStep.DONE, n1=NodeStep.QUARANTINED, n2=NodeStep.NOT_APPLICABLE),
         E.FINISH),
        ("failed node not yet made safe", C.RUNNING,
         runs_of(c1=NodeStep.DONE, n1=NodeStep.FAILED), None),
        ("paused by operator never finishes itself", C.PAUSED, runs_of(c1=NodeStep.DONE), None),
        ("awaiting approval", C.PENDING_APPROVAL, runs_of(c1=NodeStep.PENDING), None),
        ("terminal", C.ABORTED, runs_of(c1=NodeStep.FAILED), None),
    ],
)
def test_next_event(description: str, state: CampaignState, runs: dict[str, NodeRun],
                    expected: CampaignEvent | None) -> None:
    canaries = tuple(n for n in runs if n.startswith("c"))
    campaign = Campaign("k1", "c1", state, failure_budget=1, canaries=canaries)
    assert next_event(campaign, runs) is expected


def test_held_manual_node_does_not_keep_the_campaign_open() -> None:
    runs = {"c1": NodeRun("c1", NodeStep.DONE, canary=True), "m1": NodeRun("m1", held=True)}
    campaign = Campaign("k1", "c1", C.RUNNING, failure_budget=0, canaries=("c1",))
    assert next_event(campaign, runs) is E.FINISH


OTHER = "other model: the image has no package for model X"
UNREADABLE = "not applicable: installed BIOS version: cannot read 'P79 v1.45'"


@pytest.mark.parametrize(
    ("description", "state", "unreached", "runs", "expected"),
    [
        ("every node covered", C.RUNNING, 0,
         {"a": NodeRun("a", NodeStep.DONE), "b": NodeRun("b", NodeStep.NOT_APPLICABLE,
                                                          error=OTHER)}, E.FINISH),
        ("up to date only", C.RUNNING, 0,
         {"a": NodeRun("a", NodeStep.SKIPPED, error="already at the image's versions")},
         E.FINISH),
        ("no BMC answered", C.RUNNING, 3, {}, E.NOTHING_DONE),
        ("no BMC answered, approval pending", C.PENDING_APPROVAL, 3, {}, E.NOTHING_DONE),
        ("one BMC silent", C.RUNNING, 1, {"a": NodeRun("a", NodeStep.DONE)},
         E.FINISH_WITH_EXCLUSIONS),
        ("versions unreadable everywhere", C.RUNNING, 0,
         {"a": NodeRun("a", NodeStep.NOT_APPLICABLE, error=UNREADABLE),
          "b": NodeRun("b", NodeStep.NOT_APPLICABLE, error=OTHER)}, E.NOTHING_DONE),
        ("no window for one", C.RUNNING, 0,
         {"a": NodeRun("a", NodeStep.DONE), "b": NodeRun("b", NodeStep.SKIPPED,
                                                          error="no_window")},
         E.FINISH_WITH_EXCLUSIONS),
        ("found not applicable at precheck", C.RUNNING, 0,
         {"a": NodeRun("a", NodeStep.DONE), "b": NodeRun("b", NodeStep.SKIPPED,
                                                          error=UNREADABLE)},
         E.FINISH_WITH_EXCLUSIONS),
        ("work left", C.RUNNING, 2, {"a": NodeRun("a", NodeStep.PENDING)}, None),
        ("approval pending with work to approve", C.PENDING_APPROVAL, 2,
         {"a": NodeRun("a", NodeStep.PENDING)}, None),
    ],
)
def test_a_campaign_that_could_not_cover_every_node_never_completes(
        description: str, state: CampaignState, unreached: int, runs: dict[str, NodeRun],
        expected: CampaignEvent | None) -> None:
    campaign = Campaign("k1", "c1", state, failure_budget=0, unreached=unreached)
    assert next_event(campaign, runs) is expected


def test_exclusion_reasons() -> None:
    assert exclusion_of(NodeRun("a", NodeStep.NOT_APPLICABLE, error=UNREADABLE)) == (
        "not_applicable")
    assert exclusion_of(NodeRun("a", NodeStep.SKIPPED, error="no_canary")) == "no_canary"
    for run in (NodeRun("a", NodeStep.NOT_APPLICABLE, error=OTHER),
                NodeRun("a", NodeStep.SKIPPED, error="cleared by operator (x)"),
                NodeRun("a", NodeStep.SKIPPED, error="up_to_date"),
                NodeRun("a", NodeStep.QUARANTINED, error="flash failed"),
                NodeRun("a", held=True)):
        assert exclusion_of(run) is None, run


def test_canary_gate_opens_only_when_every_canary_is_done() -> None:
    campaign = Campaign("k1", "c1", C.RUNNING, 0, canaries=("a", "b"))
    runs = {"a": NodeRun("a", NodeStep.DONE), "b": NodeRun("b", NodeStep.POSTCHECK)}
    assert not canary_gate_open(campaign, runs)
    runs["b"] = NodeRun("b", NodeStep.DONE)
    assert canary_gate_open(campaign, runs)
