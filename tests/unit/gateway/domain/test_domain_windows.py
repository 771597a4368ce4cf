"""Maintenance windows: fitting an update, finding the next opening, QoS classes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain import InvalidClusterError, MaintenanceWindow, QosClass

HOUR = timedelta(hours=1)
# Fridays 23:00 for 3 hours: runs into Saturday.
FRIDAY_NIGHT = MaintenanceWindow((4,), time(23, 0), 3 * HOUR)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """November 2026: the 23rd is a Monday, so day 27 is a Friday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("description", "begin", "duration", "fits"),
    [
        ("inside, before midnight", at(27, 23, 30), HOUR, True),
        ("inside, across midnight", at(27, 23, 30), 2 * HOUR, True),
        ("ends exactly at close", at(28, 1, 0), HOUR, True),
        ("overruns the close", at(28, 1, 30), HOUR, False),
        ("starts before the opening", at(27, 22, 30), HOUR, False),
        ("wrong weekday", at(26, 23, 30), HOUR, False),
        ("a week later it reopens", at(27, 23, 0) + timedelta(days=7), HOUR, True),
        ("longer than the window", at(27, 23, 0), 4 * HOUR, False),
    ],
)
def test_window_fits(description: str, begin: datetime, duration: timedelta, fits: bool) -> None:
    assert FRIDAY_NIGHT.fits(begin, duration) is fits


def test_next_fit_is_now_inside_and_next_opening_outside() -> None:
    assert FRIDAY_NIGHT.next_fit(at(27, 23, 30), HOUR) == at(27, 23, 30)
    assert FRIDAY_NIGHT.next_fit(at(28, 1, 30), HOUR) == at(27, 23, 0) + timedelta(days=7)
    assert FRIDAY_NIGHT.next_fit(at(23, 9), HOUR) == at(27, 23, 0)
    assert FRIDAY_NIGHT.next_fit(at(23, 9), 4 * HOUR) is None


def test_qos_without_windows_allows_any_time_and_picks_earliest_of_several() -> None:
    anytime = QosClass("any")
    assert anytime.allows(at(24, 3), 10 * HOUR)
    assert anytime.next_allowed(at(24, 3), HOUR) == at(24, 3)
    monday = MaintenanceWindow((0,), time(2, 0), 2 * HOUR)
    both = QosClass("both", windows=(FRIDAY_NIGHT, monday))
    assert both.next_allowed(at(28, 5), HOUR) == at(30, 2)  # Monday 30th beats next Friday
    assert not both.allows(at(28, 5), HOUR)


@pytest.mark.parametrize(
    ("description", "weekdays", "length"),
    [
        ("no weekday", (), HOUR),
        ("weekday 7", (7,), HOUR),
        ("zero length", (1,), timedelta(0)),
        ("over a week", (1,), timedelta(days=8)),
    ],
)
def test_bad_windows_are_refused(description: str, weekdays: tuple[int, ...],
                                 length: timedelta) -> None:
    with pytest.raises(InvalidClusterError, match="maintenance window"):
        MaintenanceWindow(weekdays, time(1, 0), length)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        FRIDAY_NIGHT.fits(datetime(2026, 11, 27, 23, 30), HOUR)


@settings(max_examples=300, deadline=None)
@given(
    weekdays=st.lists(st.integers(0, 6), min_size=1, max_size=7),
    start=st.times(),
    length_minutes=st.integers(1, 7 * 24 * 60),
    after=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1),
                       timezones=st.just(UTC)),
    duration_minutes=st.integers(1, 12 * 60),
)
def test_next_fit_is_the_earliest_moment_that_fits(
        weekdays: list[int], start: time, length_minutes: int, after: datetime,
        duration_minutes: int) -> None:
    window = MaintenanceWindow(tuple(weekdays), start, timedelta(minutes=length_minutes))
    duration = timedelta(minutes=duration_minutes)
    found = window.next_fit(after, duration)
    if found is None:
        assert duration > window.length
        return
    assert found >= after and window.fits(found, duration)
    assert found - after <= timedelta(days=7)  # weekly windows reopen within a week
    gap = found - after
    for step in range(10):  # nothing earlier fits
        earlier = after + gap * step / 10
        if earlier < found:
            assert not window.fits(earlier, duration)
