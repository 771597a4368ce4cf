"""Per-node state machine: the transition table, operator actions, occupancy."""

from __future__ import annotations

import pytest

from gateway.domain import (
    Health,
    IllegalTransitionError,
    NodeRun,
    NodeStep,
    after_failure,
    can_transition,
    clear_node,
    occupies_allowance,
    open_failures,
    retry_node,
)

S = NodeStep


@pytest.mark.parametrize(
    ("current", "target", "legal"),
    [
        (S.PENDING, S.PRECHECK, True),
        (S.PENDING, S.SKIPPED, True),
        (S.PENDING, S.DELIVER, False),       # never start past the precheck
        (S.PENDING, S.DONE, False),
        (S.PRECHECK, S.DRAIN, True),
        (S.PRECHECK, S.DELIVER, True),       # no drain hook: drain jumped over
        (S.PRECHECK, S.SKIPPED, True),       # already on the target versions
        (S.DRAIN, S.DELIVER, True),
        (S.DELIVER, S.MONITOR, True),
        (S.DELIVER, S.WAIT_BACK, True),      # MSC: no task, the host resets itself
        (S.DELIVER, S.EJECT, False),         # would jump over VERIFY
        (S.MONITOR, S.RESET, True),
        (S.MONITOR, S.VERIFY, True),
        (S.RESET, S.WAIT_BACK, True),
        (S.WAIT_BACK, S.VERIFY, True),
        (S.VERIFY, S.EJECT, True),
        (S.VERIFY, S.POSTCHECK, True),
        (S.VERIFY, S.DONE, False),           # would jump over POSTCHECK
        (S.EJECT, S.POSTCHECK, True),
        (S.POSTCHECK, S.UNDRAIN, True),
        (S.POSTCHECK, S.DONE, True),
        (S.UNDRAIN, S.DONE, True),
        (S.VERIFY, S.DELIVER, False),        # never backwards: no second flash
        (S.VERIFY, S.RESET, True),           # a silently staged image's host reset
        (S.VERIFY, S.MONITOR, False),
        (S.MONITOR, S.DELIVER, False),
        (S.UNDRAIN, S.PRECHECK, False),
        (S.DELIVER, S.FAILED, True),
        (S.UNDRAIN, S.FAILED, True),
        (S.PENDING, S.FAILED, False),
        (S.FAILED, S.QUARANTINED, True),
        (S.FAILED, S.PARTIAL, True),         # some planned components changed
        (S.MONITOR, S.PARTIAL, False),       # made safe and read back first
        (S.PARTIAL, S.PENDING, True),
        (S.PARTIAL, S.SKIPPED, True),
        (S.PARTIAL, S.DONE, False),
        (S.FAILED, S.PENDING, False),        # cleanup first
        (S.QUARANTINED, S.PENDING, True),
        (S.QUARANTINED, S.SKIPPED, True),
        (S.QUARANTINED, S.PRECHECK, False),
        (S.DONE, S.PENDING, False),
        (S.DONE, S.FAILED, False),
        (S.SKIPPED, S.PENDING, False),
        (S.NOT_APPLICABLE, S.PENDING, False),
        (S.NOT_APPLICABLE, S.PRECHECK, False),
    ],
)
def test_transition_table(current: NodeStep, target: NodeStep, legal: bool) -> None:
    assert can_transition(current, target) is legal
    run = NodeRun("n1", current)
    if legal:
        assert run.to(target).step is target
    else:
        with pytest.raises(IllegalTransitionError) as caught:
            run.to(target)
        assert (caught.value.entity, caught.value.current, caught.value.requested) == (
            "node", current.value, target.value)


def test_full_happy_path_walks_every_step() -> None:
    run = NodeRun("n1")
    for step in (S.PRECHECK, S.DRAIN, S.DELIVER, S.MONITOR, S.RESET, S.WAIT_BACK, S.VERIFY,
                 S.EJECT, S.POSTCHECK, S.UNDRAIN, S.DONE):
        run = run.to(step)
    assert run.finished and not run.active


def test_failure_then_retry_counts_the_attempt_and_clears_the_error() -> None:
    run = NodeRun("n1", S.MONITOR).fail("task ended in Exception")
    assert run.step is S.FAILED and run.error == "task ended in Exception"
    run = run.to(S.QUARANTINED)
    retried = retry_node(run)
    assert (retried.step, retried.attempt, retried.error) == (S.PENDING, 2, None)


def test_clear_gives_up_a_quarantined_node_and_keeps_the_reason() -> None:
    run = NodeRun("n1", S.QUARANTINED, error="versions unchanged")
    cleared = clear_node(run)
    assert cleared.step is S.SKIPPED and "versions unchanged" in (cleared.error or "")


@pytest.mark.parametrize("step", [S.PENDING, S.DELIVER, S.FAILED, S.DONE])
def test_retry_refuses_nodes_that_are_not_quarantined_or_held(step: NodeStep) -> None:
    with pytest.raises(IllegalTransitionError, match="retry"):
        retry_node(NodeRun("n1", step))


@pytest.mark.parametrize("step", [S.DELIVER, S.FAILED, S.DONE, S.NOT_APPLICABLE])
def test_clear_refuses_nodes_in_flight_or_finished(step: NodeStep) -> None:
    with pytest.raises(IllegalTransitionError, match="clear"):
        clear_node(NodeRun("n1", step))


@pytest.mark.parametrize("step", [S.QUARANTINED, S.PARTIAL])
def test_a_partial_node_is_a_failure_retried_or_cleared_like_a_quarantined_one(
        step: NodeStep) -> None:
    run = NodeRun("n1", step, error="partial: changed BIOS 1.0→1.5")
    assert open_failures([run, NodeRun("n2", S.DONE)]) == 1
    assert retry_node(run).step is S.PENDING and clear_node(run).step is S.SKIPPED
    assert not occupies_allowance(step, Health.UP) and occupies_allowance(step, Health.DOWN)


BEFORE = {"BIOS": "1.0", "BMC": "2.0", "NIC": "7.0"}
TARGETS = {"BIOS": "1.5", "BMC": "2.1", "NIC": "7.1"}


def test_after_failure_names_what_changed_and_what_did_not() -> None:
    step, note = after_failure(BEFORE, TARGETS, {"BIOS": "1.5", "BMC": "2.1", "NIC": "7.0"})
    assert step is S.PARTIAL
    assert note == "partial: changed BIOS 1.0→1.5, BMC 2.0→2.1; unchanged NIC 7.0 (target 7.1)"


@pytest.mark.parametrize(("installed", "start"), [
    (BEFORE, "versions read back: none changed (BIOS 1.0 (target 1.5), "),
    ({"BIOS": "1.5", "BMC": "2.1", "NIC": "7.1"}, "versions read back: all changed (BIOS "),
    ({"BIOS": "1.0", "BMC": "2.0"}, "versions read back: none changed ("),  # NIC unreadable
])
def test_after_failure_quarantines_a_node_not_left_mixed(installed: dict[str, str],
                                                         start: str) -> None:
    step, note = after_failure(BEFORE, TARGETS, installed)
    assert step is S.QUARANTINED and note.startswith(start), note


def test_after_failure_counts_a_component_changed_but_not_to_its_target() -> None:
    # The BIOS moved (to neither version): the node is mixed, and says so.
    step, note = after_failure(BEFORE, TARGETS, {"BIOS": "1.2", "BMC": "2.0", "NIC": "7.0"})
    assert step is S.PARTIAL and "changed BIOS 1.0→1.2;" in note and "NIC 7.0" in note


def test_clear_gives_up_waiting_for_a_pending_node() -> None:
    cleared = clear_node(NodeRun("n1"))
    assert cleared.step is S.SKIPPED and "before it started" in (cleared.error or "")


def test_held_manual_node_cannot_start_until_released() -> None:
    held = NodeRun("n1", held=True)
    with pytest.raises(IllegalTransitionError, match="manual-only"):
        held.to(S.PRECHECK)
    assert retry_node(held).to(S.PRECHECK).step is S.PRECHECK


@pytest.mark.parametrize(
    ("step", "health", "occupies"),
    [
        (S.PENDING, Health.UP, False),
        (S.PENDING, Health.DOWN, True),
        (S.PENDING, Health.UNKNOWN, True),
        (S.DELIVER, Health.UP, True),        # the gateway has it
        (S.FAILED, Health.UP, True),         # still being made safe
        (S.QUARANTINED, Health.DOWN, True),  # keeps its slot until healthy ...
        (S.QUARANTINED, Health.UP, False),   # ... again
        (S.SKIPPED, Health.DOWN, True),      # cleared but down is still down
        (S.DONE, Health.UP, False),
    ],
)
def test_occupancy(step: NodeStep, health: Health, occupies: bool) -> None:
    assert occupies_allowance(step, health) is occupies


def test_staged_activation_path() -> None:
    """PENDING → STAGE → STAGED → PRECHECK …: staging rests before the disruptive part,
    which is then the usual path; a staged node cannot jump to DONE."""
    from gateway.domain import STAGING_STEPS, occupies_allowance
    from gateway.domain.cluster import Health

    run = NodeRun("n").to(NodeStep.STAGE).to(NodeStep.STAGED).to(NodeStep.PRECHECK)
    assert run.step is NodeStep.PRECHECK and run.active
    assert not can_transition(NodeStep.STAGED, NodeStep.DONE)
    assert not can_transition(NodeStep.STAGED, NodeStep.RESET)
    assert can_transition(NodeStep.STAGE, NodeStep.SKIPPED)  # found up to date
    assert can_transition(NodeStep.STAGE, NodeStep.FAILED)
    for step in STAGING_STEPS:
        assert not NodeRun("n", step).active and not NodeRun("n", step).finished
        assert not occupies_allowance(step, Health.UP)
        assert occupies_allowance(step, Health.DOWN)
