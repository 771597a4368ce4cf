"""MONITOR's waits (gateway.domain.polling.monitor_polls): learned from the campaign's
finished nodes, sparser as the step goes on, stretched by pushed BMC events."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain import monitor_polls, retry_after_silence
from gateway.domain.polling import RETRY_CAP_S

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


def _silent_looks(restart_s: float, retry_s: float, poll_max_s: float) -> tuple[int, float]:
    """Looks a BMC restarting for ``restart_s`` (silent from the first look on) does not
    answer, and how long after it came back the next look notices it."""
    misses, at = 1, 0.0
    while True:
        at += retry_after_silence(retry_s, misses, poll_max_s=poll_max_s)
        if at >= restart_s:
            return misses, at - restart_s
        misses += 1


def test_a_restarting_bmc_costs_a_few_logins_not_one_every_retry() -> None:
    # The bench's 5 s BMC restart, looked at every 0.2 s: 25 failed logins before; now
    # 0.2, 0.4, 0.8, 1.6 then 3 s (the cap): 5, and it is noticed within 1 s.
    misses, late = _silent_looks(5.0, 0.2, poll_max_s=5.0)
    assert misses == 5 and late == pytest.approx(1.0)
    # A real restart of three minutes: 63 looks instead of 900.
    assert _silent_looks(180.0, 0.2, poll_max_s=5.0)[0] == 63


def test_the_wait_after_silence_never_exceeds_poll_max() -> None:
    assert retry_after_silence(0.1, 10, poll_max_s=0.5) == pytest.approx(0.5)
    assert retry_after_silence(0.5, 1, poll_max_s=5.0) == pytest.approx(0.5)


@given(retry=st.floats(min_value=0.1, max_value=60.0), misses=st.integers(1, 10_000),
       limit=poll_max)
def test_the_wait_after_silence_doubles_up_to_its_cap(retry: float, misses: int,
                                                      limit: float) -> None:
    wait = retry_after_silence(retry, misses, poll_max_s=limit)
    cap = max(retry, min(RETRY_CAP_S, limit))
    assert retry <= wait <= cap
    assert wait == pytest.approx(min(cap, 2 * retry_after_silence(retry, misses - 1,
                                                                  poll_max_s=limit))
                                 if misses > 1 else retry)
    assert retry_after_silence(retry, misses + 1, poll_max_s=limit) >= wait
