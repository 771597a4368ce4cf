"""Campaigns on BMCs without FirmwareInventory: versions from ComputerSystem.BiosVersion and
Manager.FirmwareVersion decide applicability and success, and nothing else does."""

from __future__ import annotations

from gateway.orchestrator.reports import NodeReport
from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TEST_MODEL, wait_for

FINISHED = ("done", "not_applicable", "skipped", "failed", "quarantined")


def _runs_finished(rig: Rollout, campaign_id: str) -> dict[str, NodeReport]:
    assert wait_for(lambda: all(r.step in FINISHED
                                for r in rig.service.show(campaign_id).runs), 120), \
        rig.service.report(campaign_id).to_json()
    return {r.node_id: r for r in rig.service.report(campaign_id).nodes}


def test_fallback_versions_are_updated_and_verified_from_the_same_source(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": ["simple_update"], "autonomy": "auto_approve"})
    updated, current = sorted(b.id for b in rig.emulated.bmcs)
    for bmc in rig.emulated.bmcs:
        bmc.faults.set("no_firmware_inventory")
    # Already at the image's BIOS and BMC: only the NIC, which no fallback reports, is left.
    rig.emulated.bmc(current).firmware.install("BIOS", "1.5.0")
    rig.emulated.bmc(current).firmware.install("BMC", "2.0.0")
    rig.announce()
    nodes = _runs_finished(rig, rig.campaign_id())

    done = nodes[updated]
    assert done.outcome == "done", done
    assert done.target_versions == {"BMC": "2.0.0", "BIOS": "1.5.0"}
    assert done.after_versions == {"BMC": "2.0.0", "BIOS": "1.5.0"}
    assert rig.emulated.bmc(updated).firmware.installed()["BIOS"] == "1.5.0"

    skipped = nodes[current]
    assert skipped.outcome == "not_applicable"
    error = skipped.error or ""
    assert "node reports no NIC version" in error
    assert "no readable UpdateService.FirmwareInventory" in error
    assert "ComputerSystem.BiosVersion ('1.5.0')" in error
    assert "Manager.FirmwareVersion ('2.0.0')" in error
    stored = {n.node_id: n for n in rig.service.nodes()}
    assert "fallback" in stored[updated].capabilities["version_source"]


def test_a_fallback_version_that_does_not_change_is_never_done(rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL], groups={"all": 1},
                  cluster={"delivery": ["simple_update"], "autonomy": "auto_approve"})
    (bmc,) = rig.emulated.bmcs
    bmc.faults.set("no_firmware_inventory")
    bmc.faults.set("version_unchanged", component="BIOS")
    rig.announce()
    nodes = _runs_finished(rig, rig.campaign_id())
    run = nodes[bmc.id]
    assert run.outcome != "done", run
    assert run.outcome in ("failed", "quarantined")
    assert "BIOS" in (run.error or "")
    assert bmc.firmware.installed()["BIOS"] == "1.0.0"
