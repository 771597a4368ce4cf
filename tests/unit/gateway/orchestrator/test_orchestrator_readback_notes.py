"""What VERIFY records while versions are behind: a BMC that reported its update task
completed is named as such (docs/interop.md, "staged-silently-until-host-reset")."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.domain import RunProgress
from gateway.orchestrator.readback import behind_note

BEHIND = ["BIOS 1.0.0 (want 1.5.0)", "NIC 1.0.0 (want 7.1)"]
SENT = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


def test_a_completed_task_with_versions_unchanged_is_named() -> None:
    note = behind_note(RunProgress(bmc_said="task Completed at 100 %"), BEHIND)
    assert note == ["the BMC reported the update task completed, but versions did not "
                    "change: BIOS 1.0.0 (want 1.5.0)", "NIC 1.0.0 (want 7.1)"]


def test_the_host_reset_made_since_is_named_too() -> None:
    progress = RunProgress(bmc_said="task Completed", host_reset_sent=SENT)
    assert "task completed and the host was reset, but versions did not change: BIOS" \
        in "; ".join(behind_note(progress, BEHIND))


def test_without_a_completed_task_the_components_alone() -> None:
    assert behind_note(RunProgress(), BEHIND) == BEHIND
    assert behind_note(RunProgress(bmc_said="task Running at 40 %"), BEHIND) == BEHIND
    assert behind_note(RunProgress(bmc_said="task Completed"), []) == []
