"""The BMC's clock: Manager.DateTime and DateTimeLocalOffset, settable by PATCH.

Setting DateTime stores the difference from the real clock, so the BMC's
time keeps running from the value a client set (as a BMC's RTC does).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta, timezone

_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


class ManagerClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._skew = timedelta(0)
        self._offset = "+00:00"

    @property
    def local_offset(self) -> str:
        return self._offset

    def now(self) -> str:
        """The BMC's time, ISO 8601 in its local offset (seconds precision)."""
        with self._lock:
            sign, hours, minutes = _parse_offset(self._offset)
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
            return (datetime.now(UTC) + self._skew).astimezone(zone).isoformat(
                timespec="seconds")

    def at(self, real: str) -> str:
        """A real UTC time (ISO 8601, e.g. an audit record's ``ts``) as this BMC's clock
        shows it: what the BMC stamps on its log entries (milliseconds kept)."""
        with self._lock:
            sign, hours, minutes = _parse_offset(self._offset)
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
            return (datetime.fromisoformat(real) + self._skew).astimezone(zone).isoformat(
                timespec="milliseconds")

    def set(self, date_time: str | None, local_offset: str | None) -> None:
        """Set either or both; ValueError naming the property if a value is malformed."""
        parsed: datetime | None = None
        if date_time is not None:
            try:
                parsed = datetime.fromisoformat(date_time)
            except ValueError:
                raise ValueError("DateTime") from None
            if parsed.tzinfo is None:
                raise ValueError("DateTime")
        if local_offset is not None:
            match = _OFFSET.match(local_offset)
            if match is None or int(match[2]) > 14 or int(match[3]) > 59:
                raise ValueError("DateTimeLocalOffset")
        with self._lock:
            if parsed is not None:
                self._skew = parsed - datetime.now(UTC)
            if local_offset is not None:
                self._offset = local_offset


def _parse_offset(text: str) -> tuple[int, int, int]:
    match = _OFFSET.match(text)
    assert match is not None  # only validated offsets are stored
    return (1 if match[1] == "+" else -1), int(match[2]), int(match[3])
