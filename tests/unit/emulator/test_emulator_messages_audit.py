"""Registry messages and the audit log format."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from emulator.audit import EVENTS, AuditLog, read_audit_log
from emulator.errors import EmulatorError
from emulator.messages import message


def test_messages_are_worded_from_the_registries() -> None:
    rendered = message("Base.ResourceNotFound", "Task", "42")
    assert rendered["MessageId"] == "Base.1.22.1.ResourceNotFound"
    assert rendered["Message"] == "The requested resource of type Task named '42' was not found."
    assert rendered["MessageSeverity"] == "Critical"
    assert message("TaskEvent.TaskStarted", "7")["MessageId"] == "TaskEvent.1.0.5.TaskStarted"


@pytest.mark.parametrize(
    ("message_id", "args"),
    [("Base.NoSuchMessage", ()), ("Nope.Thing", ()), ("Base.ResourceNotFound", ("only-one",))],
)
def test_message_misuse_is_an_error(message_id: str, args: tuple[str, ...]) -> None:
    with pytest.raises(EmulatorError):
        message(message_id, *args)


def test_audit_lines_carry_the_documented_fields(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record("bmc-0001", "flash_start", component="BIOS", from_version="1.0",
               to_version="1.5")
    log.record("bmc-0001", "media_insert", image="http://127.0.0.1:1/b.iso")
    log.record("bmc-0002", "power", state="On")
    log.close()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)
    records = list(read_audit_log(tmp_path / "audit.jsonl"))
    assert records[0]["component"] == "BIOS" and records[0]["to_version"] == "1.5"
    assert records[1]["image"].endswith("b.iso") and records[2]["state"] == "On"
    for record in records:
        assert record["event"] in EVENTS
        assert datetime.fromisoformat(record["ts"]).tzinfo is not None
    with pytest.raises(ValueError, match="unknown audit event"):
        AuditLog().record("bmc-0001", "exploded")
