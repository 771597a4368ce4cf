"""Weekly maintenance windows and the QoS classes that use them.

All times are UTC. A window is a weekly recurring opening: on each listed
weekday it opens at ``start`` and stays open for ``length`` (which may run
past midnight, up to a whole week). An update fits a window when it both
starts and ends inside one opening, so a node is never left mid-update when
its window closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache

from gateway.domain.errors import InvalidClusterError

_WEEK = timedelta(days=7)


def as_utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; naive datetimes are rejected (ValueError)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone; use UTC")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class MaintenanceWindow:
    """A weekly opening: weekdays 0=Monday..6=Sunday, ``start`` UTC, ``length`` > 0, ≤ 7 days."""

    weekdays: tuple[int, ...]
    start: time
    length: timedelta

    def __post_init__(self) -> None:
        if not self.weekdays or any(day not in range(7) for day in self.weekdays):
            raise InvalidClusterError(
                f"maintenance window weekdays must be 0..6 (Monday=0), got {self.weekdays}"
            )
        if not timedelta(0) < self.length <= _WEEK:
            raise InvalidClusterError(
                f"maintenance window length must be >0 and at most 7 days, got {self.length}"
            )
        # Normalised so equal windows compare equal and iteration is deterministic.
        object.__setattr__(self, "weekdays", tuple(sorted(set(self.weekdays))))

    def _openings_around(self, moment: datetime) -> list[datetime]:
        """Openings from eight days before to eight days after ``moment``, ascending."""
        first_day = (moment - timedelta(days=8)).date()
        openings = []
        for offset in range(17):
            day = first_day + timedelta(days=offset)
            if day.weekday() in self.weekdays:
                openings.append(datetime.combine(day, self.start, tzinfo=UTC))
        return openings

    def fits(self, begin: datetime, duration: timedelta) -> bool:
        """True when [begin, begin + duration] lies inside one opening."""
        return _fits(self, as_utc(begin), duration)

    def next_fit(self, after: datetime, duration: timedelta) -> datetime | None:
        """Earliest moment ≥ ``after`` at which an update of ``duration`` fits; None if never."""
        return _next_fit(self, as_utc(after), duration)


# Planning and admission ask the same few classes about the same moment once per node
# (100,000 times a tick at scale); the answers are pure, so they are memoised.
@lru_cache(maxsize=4096)
def _fits(window: MaintenanceWindow, begin: datetime, duration: timedelta) -> bool:
    return any(opening <= begin and begin + duration <= opening + window.length
               for opening in window._openings_around(begin))


@lru_cache(maxsize=4096)
def _next_fit(window: MaintenanceWindow, after: datetime, duration: timedelta
              ) -> datetime | None:
    if duration > window.length:
        return None
    for opening in window._openings_around(after):
        begin = max(after, opening)
        if begin + duration <= opening + window.length:
            return begin
    return None  # unreachable for a valid window: it reopens within a week


@dataclass(frozen=True)
class QosClass:
    """How a node may be updated.

    ``order``: lower updates earlier; use low numbers for the least critical
    nodes (canaries are chosen among the lowest). ``windows``: if non-empty the
    node is only updated inside one of them. ``manual_only``: never started by
    the gateway on its own; an operator must release it.
    """

    name: str
    order: int = 0
    windows: tuple[MaintenanceWindow, ...] = field(default=())
    manual_only: bool = False

    def allows(self, begin: datetime, duration: timedelta) -> bool:
        """True when an update starting at ``begin`` and lasting ``duration`` is allowed."""
        if not self.windows:
            return True
        return any(window.fits(begin, duration) for window in self.windows)

    def next_allowed(self, after: datetime, duration: timedelta) -> datetime | None:
        """Earliest start ≥ ``after`` that ``allows``; None when no window can hold it."""
        if not self.windows:
            return as_utc(after)
        fits = [w.next_fit(after, duration) for w in self.windows]
        candidates = [moment for moment in fits if moment is not None]
        return min(candidates) if candidates else None


DEFAULT_QOS = QosClass(name="default")
