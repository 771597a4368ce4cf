"""The BMC's own logs (LogService): the manager's event log and the system's SEL.

Entries are made from audit records (``AuditLog.record`` hands each record to
the BMC's ``BmcLogs.from_audit``), so the audit file and what a Redfish client
reads in LogServices never disagree. Each record becomes a message from the
Update, ResourceEvent or Base registry (Base.GeneralError for a failure that
names no component); host power and reset records also go to the SEL, and so
does every per-component result the update CD's environment reports (it runs on
the host: success, ApplyFailed, VerificationFailed, not applicable). The BMC
also pushes the firmware messages as EventService events (emulator/bmc.py), so
task, log and event say the same thing at the same moment. A full log drops its
oldest entries (OverWritePolicy WrapsWhenFull).
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


@dataclass(frozen=True)
class LogMessage:
    """What one audit record says in the logs: short message id ("Update.ApplyFailed"),
    its arguments, the OriginOfCondition URI, and whether the SEL gets it too."""

    message_id: str
    args: tuple[str, ...]
    origin: str
    to_sel: bool = False

    @property
    def about_firmware(self) -> bool:
        """An Update-registry message about a FirmwareInventory member (pushed as an event)."""
        return self.message_id.startswith("Update.") and self.origin.startswith(INVENTORY_URI)


class BmcLogs:
    """The manager's event log ("Log") and the host's SEL of one BMC."""

    def __init__(self) -> None:
        self.manager = EventLog()
        self.sel = EventLog()

    def from_audit(self, record: dict[str, Any]) -> LogMessage | None:
        """Write the entries for one audit record (its ``ts`` is the entry's Created);
        returns what was written (None: the record makes no entry)."""
        mapped = _message_for(record)
        if mapped is None:
            return None
        created = str(record["ts"])
        self.manager.add(created, mapped.message_id, mapped.args, mapped.origin)
        if mapped.to_sel:
            self.sel.add(created, mapped.message_id, mapped.args, mapped.origin)
        return mapped


# Why a component was not flashed (flash_skipped records) -> its Update message; the
# Skipped messages name the device first, UpdateNotApplicable the image first.
FAILURE_MESSAGES = frozenset({"TransferFailed", "VerificationFailed", "ApplyFailed",
                              "ActivateFailed"})
SKIP_MESSAGES = frozenset({"UpdateSkipped", "UpdateSkippedSameVersion",
                           "UpdateSkippedVersionTooLow", "UpdateNotApplicable"})


def _message_for(record: dict[str, Any]) -> LogMessage | None:
    """The log message for an audit record (None: the record makes no entry)."""
    event = record["event"]
    if event in ("flash_start", "flash_end", "flash_failed", "flash_skipped"):
        return _firmware_message(record)
    return _host_message(record)


def _firmware_message(record: dict[str, Any]) -> LogMessage:
    event = record["event"]
    component = str(record.get("component") or "firmware")
    image = str(record.get("image") or record.get("to_version") or "unknown")
    origin = f"{INVENTORY_URI}/{component}"
    # The update CD's environment runs on the host: its results go to the system's log.
    on_host = record.get("source") == "update_cd"
    if event == "flash_start":
        return LogMessage("Update.InstallingOnComponent", (image, component), origin, on_host)
    if event == "flash_end":
        return LogMessage("Update.UpdateSuccessful",
                          (component, str(record.get("to_version"))), origin, on_host)
    if event == "flash_skipped":
        key = str(record.get("message") or "UpdateNotApplicable")
        key = key.rsplit(".", 1)[-1] if key.rsplit(".", 1)[-1] in SKIP_MESSAGES \
            else "UpdateNotApplicable"
        args = (image, component) if key == "UpdateNotApplicable" else (component, image)
        return LogMessage(f"Update.{key}", args, origin, on_host)
    if not record.get("component"):
        return LogMessage("Base.GeneralError", (), f"{MANAGER_URI}/VirtualMedia/CD", on_host)
    # The failing step names its message ("message"); older records only say why.
    key = str(record.get("message") or "").rsplit(".", 1)[-1]
    if key not in FAILURE_MESSAGES:
        reason = str(record.get("reason", ""))
        key = ("ActivateFailed" if "activation" in reason else
               "VerificationFailed" if "signature" in reason or "verif" in reason else
               "ApplyFailed")
    return LogMessage(f"Update.{key}", (image, component), origin, on_host)


def _host_message(record: dict[str, Any]) -> LogMessage | None:
    event = record["event"]
    image = str(record.get("image") or "unknown")
    if event == "reset":
        return LogMessage("ResourceEvent.ResourceStateChanged",
                          (SYSTEM_URI, f"Resetting ({record.get('reset_type', 'ForceRestart')})"),
                          SYSTEM_URI, True)
    if event == "power":
        key = "ResourcePoweredOn" if record.get("state") == "On" else "ResourcePoweredOff"
        return LogMessage(f"ResourceEvent.{key}", (SYSTEM_URI,), SYSTEM_URI, True)
    if event == "bmc_restart":
        return LogMessage("ResourceEvent.ResourceStateChanged", (MANAGER_URI, "Restarting"),
                          MANAGER_URI)
    if event == "media_insert":
        return LogMessage("ResourceEvent.PropertyValueModifiedByClient", ("Image", image),
                          MEDIA_URI)
    if event == "media_eject":
        return LogMessage("ResourceEvent.PropertyValueModifiedByClient", ("Inserted", "false"),
                          MEDIA_URI)
    return None
