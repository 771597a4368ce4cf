"""The BMC's own logs (LogService): the manager's event log and the system's SEL.

Entries are made from audit records (``AuditLog.record`` hands each record to
the BMC's ``BmcLogs.from_audit``), so the audit file and what a Redfish client
reads in LogServices never disagree. Each record becomes a message from the
Update, ResourceEvent or Base registry (Base.GeneralError for a failure that
names no component); host power and reset records also go
to the SEL. A full log drops its oldest entries (OverWritePolicy
WrapsWhenFull).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from emulator.messages import message

MAX_ENTRIES = 1000
SYSTEM_URI = "/redfish/v1/Systems/1"
MANAGER_URI = "/redfish/v1/Managers/1"
MEDIA_URI = f"{MANAGER_URI}/VirtualMedia/CD"
INVENTORY_URI = "/redfish/v1/UpdateService/FirmwareInventory"


@dataclass(frozen=True)
class LogEntry:
    id: str
    created: str
    message_id: str  # versioned, as rendered ("Update.1.3.0.UpdateSuccessful")
    message: str
    args: tuple[str, ...]
    severity: str
    origin: str


class EventLog:
    """One LogService's entries (thread-safe, at most MAX_ENTRIES)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LogEntry] = deque(maxlen=MAX_ENTRIES)
        self._ids = itertools.count(1)

    def add(self, created: str, message_id: str, args: tuple[str, ...], origin: str) -> LogEntry:
        rendered = message(message_id, *args)
        with self._lock:
            entry = LogEntry(str(next(self._ids)), created, rendered["MessageId"],
                             rendered["Message"], tuple(rendered["MessageArgs"]),
                             rendered["MessageSeverity"], origin)
            self._entries.append(entry)
        return entry

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)

    def get(self, entry_id: str) -> LogEntry | None:
        with self._lock:
            return next((e for e in self._entries if e.id == entry_id), None)

    def clear(self, expected: list[LogEntry] | None = None) -> bool:
        """ClearLog: every entry goes; ids keep counting (a client never sees one reused).

        expected: clear only if the entries are still exactly these (False otherwise).
        """
        with self._lock:
            if expected is not None and list(self._entries) != expected:
                return False
            self._entries.clear()
            return True


class BmcLogs:
    """The manager's event log ("Log") and the host's SEL of one BMC."""

    def __init__(self) -> None:
        self.manager = EventLog()
        self.sel = EventLog()

    def from_audit(self, record: dict[str, Any]) -> None:
        """Write the entries for one audit record (its ``ts`` is the entry's Created)."""
        mapped = _message_for(record)
        if mapped is None:
            return
        message_id, args, origin, to_sel = mapped
        created = str(record["ts"])
        self.manager.add(created, message_id, args, origin)
        if to_sel:
            self.sel.add(created, message_id, args, origin)


def _message_for(record: dict[str, Any]) -> tuple[str, tuple[str, ...], str, bool] | None:
    """(short message id, args, OriginOfCondition, also in the SEL) for an audit record."""
    event = record["event"]
    component = str(record.get("component") or "firmware")
    image = str(record.get("image") or record.get("to_version") or "unknown")
    origin = f"{INVENTORY_URI}/{component}"
    if event == "flash_start":
        return "Update.InstallingOnComponent", (image, component), origin, False
    if event == "flash_end":
        return ("Update.UpdateSuccessful", (component, str(record.get("to_version"))),
                origin, False)
    if event == "flash_failed" and not record.get("component"):
        return "Base.GeneralError", (), f"{MANAGER_URI}/VirtualMedia/CD", False
    if event == "flash_failed":
        reason = str(record.get("reason", ""))
        if "activation" in reason:
            return "Update.ActivateFailed", (image, component), origin, False
        if "signature" in reason or "verif" in reason:
            return "Update.VerificationFailed", (image, component), origin, False
        return "Update.ApplyFailed", (image, component), origin, False
    if event == "reset":
        return ("ResourceEvent.ResourceStateChanged",
                (SYSTEM_URI, f"Resetting ({record.get('reset_type', 'ForceRestart')})"),
                SYSTEM_URI, True)
    if event == "power":
        key = "ResourcePoweredOn" if record.get("state") == "On" else "ResourcePoweredOff"
        return f"ResourceEvent.{key}", (SYSTEM_URI,), SYSTEM_URI, True
    if event == "bmc_restart":
        return ("ResourceEvent.ResourceStateChanged", (MANAGER_URI, "Restarting"), MANAGER_URI,
                False)
    if event == "media_insert":
        return ("ResourceEvent.PropertyValueModifiedByClient", ("Image", image), MEDIA_URI,
                False)
    if event == "media_eject":
        return ("ResourceEvent.PropertyValueModifiedByClient", ("Inserted", "false"), MEDIA_URI,
                False)
    return None
