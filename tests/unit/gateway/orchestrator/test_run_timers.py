"""When a node waiting in its step is looked at again: a BMC event brings a MONITOR look
forward, and an event that reaches a node while a worker is looking at it is not lost
(that look may have read the versions just before the change: without it the node would
sit for its polling fallback, half a minute, with every version in place)."""

from __future__ import annotations

import time

from gateway.domain import NodeStep, RunProgress
from gateway.orchestrator.run_timers import RunTimers
from gateway.store import utcnow
from gateway.store.campaign_records import RunRecord

LOOK_AFTER_S = 0.25
FALLBACK_S = 30.0
KEY = ("c1", "n1")


def _run(step: NodeStep) -> RunRecord:
    return RunRecord(
        campaign_id="c1", node_id="n1", step=step.value, attempt=1, canary=False, held=False,
        error=None, model="FF", method="msc", packages=(), before_versions={},
        target_versions={}, after_versions={}, progress=RunProgress(), timings={},
        lease_owner="gw", lease_expires=None, next_action_at=None, step_started_at=None,
        started_at=None, finished_at=None, updated_at=utcnow())


def _due_in(timers: RunTimers) -> float:
    due = timers.next_due()
    assert due is not None
    return due - time.monotonic()


def _look(timers: RunTimers, event_meanwhile: bool = False) -> float:
    """A worker's look at the node in MONITOR that stays (asking for FALLBACK_S), an event
    for the node arriving during it or not; seconds until the next look."""
    assert timers.claim(KEY)
    if event_meanwhile:
        timers.event_for("n1")
    timers.wait(KEY, _run(NodeStep.MONITOR), FALLBACK_S, woken=True)
    timers.release(KEY)
    return _due_in(timers)


def test_an_event_brings_a_waiting_monitor_look_forward() -> None:
    timers = RunTimers(LOOK_AFTER_S)
    timers.wait(KEY, _run(NodeStep.MONITOR), FALLBACK_S)
    assert _due_in(timers) > FALLBACK_S - 1
    assert timers.event_for("n1") is True
    assert _due_in(timers) <= LOOK_AFTER_S
    assert timers.event_for("n1") is False  # already looked at by then: nothing moves
    assert timers.event_for("other-node") is False


def test_an_event_for_a_node_waiting_in_another_step_moves_nothing() -> None:
    timers = RunTimers(LOOK_AFTER_S)
    timers.wait(KEY, _run(NodeStep.WAIT_BACK), FALLBACK_S)
    assert timers.event_for("n1") is False
    assert _due_in(timers) > FALLBACK_S - 1


def test_an_event_during_a_look_shortens_that_looks_wait() -> None:
    timers = RunTimers(LOOK_AFTER_S)
    assert timers.claim(KEY)
    assert not timers.claim(KEY)  # one worker at a time
    timers.release(KEY)
    assert _look(timers, event_meanwhile=True) <= LOOK_AFTER_S
    # The mark is used once: the next look, without an event, waits as asked.
    assert [key for key, _run_record in timers.due(time.monotonic() + 1)] == [KEY]
    assert _look(timers) > FALLBACK_S - 1


def test_without_an_event_during_the_look_its_wait_is_kept() -> None:
    assert _look(RunTimers(LOOK_AFTER_S)) > FALLBACK_S - 1


def test_a_mark_left_by_a_drive_that_moved_on_does_not_reach_a_later_wait() -> None:
    timers = RunTimers(LOOK_AFTER_S)
    assert timers.claim(KEY)
    timers.event_for("n1")
    timers.release(KEY)  # the node left MONITOR in that drive: no wait was set
    assert _look(timers) > FALLBACK_S - 1


def test_an_event_for_a_node_nobody_drives_leaves_no_mark() -> None:
    timers = RunTimers(LOOK_AFTER_S)
    assert timers.event_for("n1") is False
    assert _look(timers) > FALLBACK_S - 1


def test_runs_no_longer_held_are_forgotten() -> None:
    timers = RunTimers(LOOK_AFTER_S)
    timers.wait(KEY, _run(NodeStep.MONITOR), 0.0)
    timers.wait(("c1", "n2"), _run(NodeStep.MONITOR), 0.0)
    timers.forget([KEY])
    assert timers.waiting_keys() == [("c1", "n2")]
    assert [key for key, _r in timers.due(time.monotonic() + 1)] == [("c1", "n2")]
    assert timers.due(time.monotonic() + 1) == []


def test_an_event_finds_the_nodes_run_in_monitor_among_its_waiting_runs() -> None:
    # The node waits in two campaigns (one holds it in another step meanwhile): the
    # event is for the MONITOR look, whichever run was set first.
    timers = RunTimers(LOOK_AFTER_S)
    other = ("c0", "n1")
    timers.wait(other, _run(NodeStep.WAIT_BACK), FALLBACK_S)
    timers.wait(KEY, _run(NodeStep.MONITOR), FALLBACK_S)
    assert timers.event_for("n1") is True
    assert [key for key, _r in timers.due(time.monotonic() + LOOK_AFTER_S + 0.01)] == [KEY]
    assert timers.waiting_keys() == [other]


def test_a_run_that_came_due_or_was_forgotten_is_not_woken_again() -> None:
    timers = RunTimers(LOOK_AFTER_S)
    timers.wait(KEY, _run(NodeStep.MONITOR), 0.0)
    timers.wait(("c1", "n2"), _run(NodeStep.MONITOR), FALLBACK_S)
    assert [key for key, _r in timers.due(time.monotonic() + 1)] == [KEY]
    timers.forget([("c1", "n2")])
    assert timers.event_for("n1") is False
    assert timers.event_for("n2") is False
    assert timers.due(time.monotonic() + FALLBACK_S + 1) == []
