"""The BMC's LogServices are made from audit records: message per event, SEL routing,
ClearLog guarded by the entries a client saw; plus the clock and array PATCH rules."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.audit import AuditLog
from emulator.clock import ManagerClock
from emulator.logs import BmcLogs
from emulator.network import patch_array


@pytest.mark.parametrize(("event", "fields", "message_id", "in_sel"), [
    ("flash_start", {"component": "BIOS", "image": "http://x/b.iso"},
     "Update.1.3.0.InstallingOnComponent", False),
    ("flash_end", {"component": "BIOS", "to_version": "2.0"}, "Update.1.3.0.UpdateSuccessful",
     False),
    ("flash_failed", {"component": "BMC", "reason": "fault: version_unchanged (activation "
                      "silently lost)"}, "Update.1.3.0.ActivateFailed", False),
    ("flash_failed", {"component": "NIC", "reason": "signature does not verify"},
     "Update.1.3.0.VerificationFailed", False),
    ("flash_failed", {"reason": "bundle unreadable"}, "Base.1.22.1.GeneralError", False),
    # The failing step names its message; the update CD's results also go to the SEL.
    ("flash_failed", {"component": "BMC", "message": "Update.TransferFailed",
                      "reason": "fault: the image could not be downloaded"},
     "Update.1.3.0.TransferFailed", False),
    ("flash_failed", {"component": "BIOS", "message": "Update.ApplyFailed",
                      "source": "update_cd"}, "Update.1.3.0.ApplyFailed", True),
    ("flash_end", {"component": "NIC", "to_version": "7.1", "source": "update_cd"},
     "Update.1.3.0.UpdateSuccessful", True),
    ("flash_skipped", {"component": "NIC", "message": "Update.UpdateSkippedSameVersion",
                       "source": "update_cd"}, "Update.1.3.0.UpdateSkippedSameVersion", True),
    ("flash_skipped", {"component": "NIC", "message": "Update.Bogus"},
     "Update.1.3.0.UpdateNotApplicable", False),
    ("power", {"state": "Off"}, "ResourceEvent.1.4.3.ResourcePoweredOff", True),
    ("reset", {"component": "host", "reset_type": "ForceRestart"},
     "ResourceEvent.1.4.3.ResourceStateChanged", True),
    ("bmc_restart", {"component": "BMC"}, "ResourceEvent.1.4.3.ResourceStateChanged", False),
    ("media_insert", {"image": "http://x/a.iso"},
     "ResourceEvent.1.4.3.PropertyValueModifiedByClient", False),
])
def test_each_audit_event_becomes_a_registry_message(
    event: str, fields: dict[str, Any], message_id: str, in_sel: bool
) -> None:
    audit, logs = AuditLog(), BmcLogs()
    audit.add_sink("bmc-0000", logs.from_audit)
    record = audit.record("bmc-0000", event, **fields)
    audit.record("bmc-0001", event, **fields)  # another BMC's record stays out
    [entry] = logs.manager.entries()
    assert entry.message_id == message_id and entry.created == record["ts"]
    assert len(logs.sel.entries()) == (1 if in_sel else 0)


def test_clear_only_if_the_entries_are_still_those_seen() -> None:
    audit, logs = AuditLog(), BmcLogs()
    audit.add_sink("b", logs.from_audit)
    audit.record("b", "power", state="On")
    seen = logs.manager.entries()
    audit.record("b", "power", state="Off")
    assert logs.manager.clear(expected=seen) is False and len(logs.manager.entries()) == 2
    assert logs.manager.clear() is True and logs.manager.entries() == []
    audit.record("b", "power", state="On")
    assert logs.manager.entries()[0].id == "3"  # ids are never reused


def test_clock_takes_a_time_and_an_offset_and_refuses_malformed_ones() -> None:
    clock = ManagerClock()
    clock.set("2031-02-03T04:05:06+00:00", "-08:00")
    assert clock.now().startswith("2031-02-02T20:0") and clock.now().endswith("-08:00")
    for date_time, offset, named in [("yesterday", None, "DateTime"),
                                     ("2031-02-03T04:05:06", None, "DateTime"),
                                     (None, "+25:00", "DateTimeLocalOffset"),
                                     (None, "0800", "DateTimeLocalOffset")]:
        with pytest.raises(ValueError, match=named):
            clock.set(date_time, offset)
    assert clock.local_offset == "-08:00"


@pytest.mark.parametrize(("patch", "result"), [
    (["a", "b", "c"], ["a", "b", "c"]),
    ([{}, None, "x"], ["a", "x"]),  # keep, remove, replace; the rest truncated
    ([{}, {}], ["a", "b"]),
    ([], []),
    ([{}, {}, {}, "d"], ["a", "b", "c", "d"]),
])
def test_array_patch_rules(patch: list[object], result: list[str]) -> None:
    assert patch_array(["a", "b", "c"], patch) == result


def test_array_patch_refuses_other_elements() -> None:
    with pytest.raises(ValueError):
        patch_array(["a"], [5])
