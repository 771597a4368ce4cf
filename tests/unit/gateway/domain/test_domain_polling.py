"""MONITOR's waits (gateway.domain.polling.monitor_polls): learned from the campaign's
finished nodes, sparser as the step goes on, stretched by pushed BMC events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain import monitor_polls

seconds = st.floats(min_value=0.0, max_value=7200.0, allow_nan=False)
poll_max = st.floats(min_value=0.1, max_value=60.0, allow_nan=False)
typical = st.none() | st.floats(min_value=0.5, max_value=7200.0, allow_nan=False)


def test_before_any_node_finished_looks_become_sparser_up_to_poll_max() -> None:
    assert monitor_polls(0.0, poll_max_s=5.0).next_s == pytest.approx(0.1)
    assert monitor_polls(20.0, poll_max_s=5.0).next_s == pytest.approx(1.0)
    assert monitor_polls(600.0, poll_max_s=5.0).next_s == pytest.approx(5.0)


def test_the_first_look_comes_at_95_percent_of_the_typical_time() -> None:
    first = monitor_polls(10.0, poll_max_s=5.0, typical_s=200.0)
    assert first.next_s == pytest.approx(180.0)  # 0.95 * 200 - 10
    assert first.retry_s == pytest.approx(2.0)  # a hundredth, after the BMC was silent
    later = monitor_polls(60.0, poll_max_s=10.0, typical_s=60.0)
    assert later.next_s == pytest.approx(3.0) and later.retry_s == pytest.approx(0.6)


def test_a_followed_task_ignores_the_typical_time() -> None:
    polls = monitor_polls(10.0, poll_max_s=5.0, typical_s=200.0, following_task=True)
    assert polls.next_s == pytest.approx(0.5)


def test_pushed_events_stretch_the_own_looks_but_not_the_retry_after_silence() -> None:
    polls = monitor_polls(10.0, poll_max_s=5.0, events=True, event_fallback_s=30.0)
    assert (polls.next_s, polls.retry_s) == (pytest.approx(30.0), pytest.approx(0.5))


@given(elapsed=seconds, limit=poll_max, typical_s=typical, task=st.booleans(),
       events=st.booleans(), fallback=st.floats(min_value=0.0, max_value=600.0))
def test_every_wait_is_positive_and_a_retry_is_within_bounds(
        elapsed: float, limit: float, typical_s: float | None, task: bool, events: bool,
        fallback: float) -> None:
    polls = monitor_polls(elapsed, poll_max_s=limit, typical_s=typical_s,
                          following_task=task, events=events, event_fallback_s=fallback)
    assert 0.1 <= polls.retry_s <= limit
    assert polls.next_s >= polls.retry_s
    if events and (typical_s is None or task or elapsed >= 0.95 * typical_s):
        assert polls.next_s >= fallback  # an event wakes the node sooner anyway


@given(earlier=seconds, later=seconds, limit=poll_max)
def test_without_learned_time_a_later_look_never_waits_less(
        earlier: float, later: float, limit: float) -> None:
    earlier, later = sorted((earlier, later))
    assert (monitor_polls(earlier, poll_max_s=limit).next_s
            <= monitor_polls(later, poll_max_s=limit).next_s)


@given(elapsed=seconds, limit=poll_max, typical_s=st.floats(min_value=0.5, max_value=7200.0))
def test_with_a_learned_time_nothing_is_looked_at_before_95_percent_of_it(
        elapsed: float, limit: float, typical_s: float) -> None:
    polls = monitor_polls(elapsed, poll_max_s=limit, typical_s=typical_s)
    assert elapsed + polls.next_s >= 0.95 * typical_s - 1e-9
    if elapsed + polls.retry_s < 0.95 * typical_s:
        assert elapsed + polls.next_s == pytest.approx(0.95 * typical_s)
