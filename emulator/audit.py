"""The audit log: one JSON object per line for every state change a test may check.

Events (the ``event`` field): flash_start, flash_end, flash_failed, flash_skipped,
reset, bmc_restart, media_insert, media_insert_refused, media_eject, power. Every
line has ``ts`` (ISO 8601, UTC) and ``bmc`` (the inventory id); flash events add
``component``, ``from_version`` and ``to_version``; media events add ``image``; power
events add ``state``. Extra fields (``task``, ``reason``, ``source``) explain why;
flash_failed and flash_skipped name their Update-registry ``message``
("Update.ApplyFailed", "Update.UpdateNotApplicable"). flash_skipped: the update
CD left a component of this model alone (not applicable, already current).
media_insert_refused: an InsertMedia refused for its payload (a payload quirk, with
the ``reason`` MessageId); it changes nothing and makes no LogService entry.
Each record is also handed to its BMC's sink, which makes the BMC's
LogService entries from it (emulator/logs.py): the two never disagree.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

EVENTS = frozenset(
    {
        "flash_start",
        "flash_end",
        "flash_failed",
        "flash_skipped",
        "reset",
        "bmc_restart",
        "bmc_reshaped",
        "media_insert",
        "media_insert_refused",
        "media_eject",
        "power",
    }
)


def utc_now() -> str:
    """The current time as ISO 8601 with a UTC offset, millisecond precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class AuditLog:
    """Append-only JSON-lines writer shared by all BMCs of a cluster (thread-safe).

    path: file to append to, or None to keep records only in memory (records()).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._memory: list[dict[str, Any]] = []
        # The same records per BMC: a BMC's own reads (a Dell-style inventory lists the
        # versions its flashes replaced) scan its records, not the whole cluster's.
        self._by_bmc: dict[str, list[dict[str, Any]]] = {}
        self._file: IO[str] | None = None
        # Per BMC: the BMC's own logs (LogService), fed from the same records.
        self._sinks: dict[str, Callable[[dict[str, Any]], None]] = {}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def add_sink(self, bmc: str, sink: Callable[[dict[str, Any]], None]) -> None:
        """Also hand every record of ``bmc`` to ``sink`` (its LogService entries)."""
        self._sinks[bmc] = sink

    def record(self, bmc: str, event: str, **fields: Any) -> dict[str, Any]:
        """Write one line, then give it to the BMC's sink; ValueError for an event not in EVENTS."""
        if event not in EVENTS:
            raise ValueError(f"unknown audit event {event!r}")
        line = {"ts": utc_now(), "bmc": bmc, "event": event}
        line.update({key: value for key, value in fields.items() if value is not None})
        text = json.dumps(line, sort_keys=False)
        with self._lock:
            self._memory.append(line)
            self._by_bmc.setdefault(bmc, []).append(line)
            if self._file is not None:
                self._file.write(text + "\n")
                self._file.flush()
        sink = self._sinks.get(bmc)
        if sink is not None:
            sink(dict(line))
        return line

    def records(self, bmc: str | None = None, event: str | None = None) -> list[dict[str, Any]]:
        """Records written so far by this process, optionally filtered."""
        with self._lock:
            scanned = self._memory if bmc is None else self._by_bmc.get(bmc, [])
            return [dict(r) for r in scanned if event is None or r["event"] == event]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_audit_log(path: str | Path) -> Iterator[dict[str, Any]]:
    """Parse an audit log file line by line (for tests and benchmarks)."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
