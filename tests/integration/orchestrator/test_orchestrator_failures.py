"""Failure paths on the emulator: a failing canary stops the campaign with nothing else
touched; failures beyond the budget pause it; operators retry, resume and are refused
illegal actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.domain import IllegalTransitionError
from tests.integration.orchestrator.conftest import RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL
from tests.support.waiting import wait_until


def test_failing_canary_stops_the_campaign_and_touches_nothing_else(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 4, groups={"all": 2},
                  cluster={"delivery": ["simple_update"]})
    for bmc in rig.emulated.bmcs:
        bmc.faults.set("flash_fails")
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"

    detail = rig.service.show(campaign_id)
    (canary,) = detail.campaign.canaries
    assert "canary failed" in detail.campaign.reason
    wait_until(lambda: rig.service.show(campaign_id).runs[0].step != "failed", 30)
    runs = {r.node_id: r for r in rig.service.show(campaign_id).runs}
    assert runs[canary].step == "quarantined"
    assert "ApplyFailed" in (runs[canary].error or "") or "failed" in (runs[canary].error or "")
    others = [n for n in runs if n != canary]
    assert all(runs[n].step == "skipped" for n in others), {n: runs[n].step for n in others}
    audit = rig.audit()
    assert {r["bmc"] for r in audit} == {canary}
    assert [r["event"] for r in audit if r["event"].startswith("flash")] == [
        "flash_start", "flash_failed"]
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed()["BMC"] == "1.0.0"
        assert not bmc.media.inserted and bmc.boot.enabled == "Disabled"


def test_failures_beyond_budget_pause_then_operators_recover(rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 6, groups={"all": 3},
                  cluster={"delivery": ["simple_update"], "failure_budget": 1,
                           "autonomy": "require_approval"})
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.service.show(campaign_id).campaign.state == "pending_approval"
    with pytest.raises(IllegalTransitionError):
        rig.service.resume(campaign_id)
    (canary,) = rig.service.show(campaign_id).campaign.canaries
    faulty = [n for n in sorted(b.id for b in rig.emulated.bmcs) if n != canary][:2]
    for node in faulty:
        rig.emulated.bmc(node).faults.set("flash_fails")
    rig.service.approve(campaign_id)
    assert rig.wait_state(campaign_id, "paused_budget") == "paused_budget"
    wait_until(lambda: not [r for r in rig.service.show(campaign_id).runs
                            if r.step not in ("pending", "done", "quarantined")], 30)

    runs = {r.node_id: r for r in rig.service.show(campaign_id).runs}
    assert sorted(n for n, r in runs.items() if r.step == "quarantined") == faulty
    pending = [n for n, r in runs.items() if r.step == "pending"]
    assert pending, runs  # the pause stopped the rollout before everyone was started
    touched = {r["bmc"] for r in rig.audit()}
    assert not touched & set(pending)
    with pytest.raises(IllegalTransitionError, match="failure budget"):
        rig.service.resume(campaign_id)
    with pytest.raises(IllegalTransitionError):
        rig.service.approve(campaign_id)
    with pytest.raises(IllegalTransitionError):
        rig.service.retry_node(campaign_id, pending[0])

    for node in faulty:
        rig.emulated.bmc(node).faults.clear()
        assert rig.service.retry_node(campaign_id, node).attempt == 2
    rig.service.resume(campaign_id)
    assert rig.wait_state(campaign_id, "completed") == "completed"
    report = rig.service.report(campaign_id)
    assert report.outcomes == {"done": 6}
    assert {n.node_id: n.attempt for n in report.nodes if n.attempt > 1} == {
        node: 2 for node in faulty}
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS


def test_withdrawn_image_aborts_the_campaign_before_anything_starts(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 3, groups={"all": 1},
                  cluster={"autonomy": "require_approval"})
    rig.announce()
    campaign_id = rig.campaign_id()
    outcome = rig.gateway.intake.withdraw_image(source="acme", bundle_id="test-bundle",
                                                image_sha256=rig.sha256)
    assert not outcome.refused, outcome.reason
    assert rig.wait_state(campaign_id, "aborted") == "aborted"
    # The scheduler records the end, then skips the pending nodes in its next write.
    wait_until(lambda: {r.step for r in rig.service.show(campaign_id).runs} == {"skipped"},
               30, describe="every pending node skipped")
    detail = rig.service.show(campaign_id)
    assert "withdrawn" in detail.campaign.reason
    with pytest.raises(IllegalTransitionError):
        rig.service.approve(campaign_id)
    assert rig.audit() == []


def test_drain_hooks_bracket_each_update_and_a_failing_drain_fails_the_node(
        rollout: RolloutFactory, tmp_path: Path) -> None:
    journal = tmp_path / "hooks.log"
    script = f'echo "$FLEETFLASH_ACTION {{node}}" >> {journal}'
    rig = rollout(models=[TEST_MODEL] * 3, groups={"all": 1},
                  cluster={"drain_command": ["/bin/sh", "-c", script],
                           "undrain_command": ["/bin/sh", "-c", script]})
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed") == "completed"
    lines = journal.read_text().split("\n")[:-1]
    assert sorted(lines) == sorted(f"{a} bmc-{i:04d}" for a in ("drain", "undrain")
                                   for i in range(3))
    for i in range(3):  # allowance 1: each node drained, updated, undrained in turn
        assert lines.index(f"drain bmc-{i:04d}") + 1 == lines.index(f"undrain bmc-{i:04d}")


def test_a_failing_drain_hook_quarantines_the_canary(rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"drain_command": ["/bin/sh", "-c", "echo refused >&2; exit 3"]})
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"
    wait_until(lambda: "quarantined" in {
        r.step for r in rig.service.show(campaign_id).runs}, 30)
    (canary,) = [r for r in rig.service.show(campaign_id).runs if r.canary]
    assert canary.error == "drain hook exited 3: refused"
    assert rig.audit() == []
