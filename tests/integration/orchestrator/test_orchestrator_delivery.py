"""End to end on the emulator, one test per delivery method: a verified image rolls out,
versions decide success, nothing is flashed twice, no group's allowance is exceeded,
the canary goes first, the misfit model is never touched, nothing is left behind."""

from __future__ import annotations

import json

import pytest

from tests.integration.orchestrator.conftest import RolloutFactory
from tests.integration.orchestrator.rig import (
    OTHER_MODEL,
    TARGET_VERSIONS,
    TEST_MODEL,
    even_odd_group,
    flash_counts,
    max_down_per_group,
)

MODELS = [TEST_MODEL] * 5 + [OTHER_MODEL]
GROUPS = {"even": 1, "odd": 2}


@pytest.mark.parametrize("method", ["msc", "simple_update", "multipart_push"])
def test_campaign_updates_every_fitting_node(rollout: RolloutFactory, method: str) -> None:
    rig = rollout(models=MODELS, groups=GROUPS, group_of=even_odd_group,
                  cluster={"delivery": [method]})
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed") == "completed"

    report = rig.service.report(campaign_id)
    by_node = {n.node_id: n for n in report.nodes}
    misfit = "bmc-0005"
    assert by_node[misfit].outcome == "not_applicable"
    assert report.outcomes == {"done": 5, "not_applicable": 1}, [
        (n.node_id, n.outcome, n.error) for n in report.nodes]
    for node in (f"bmc-{i:04d}" for i in range(5)):
        assert by_node[node].method == method
        assert by_node[node].before_versions == {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0.0"}
        assert by_node[node].after_versions == TARGET_VERSIONS
        assert rig.emulated.bmc(node).firmware.installed() == TARGET_VERSIONS

    audit = rig.audit()
    assert set(flash_counts(audit).values()) == {1}, flash_counts(audit)
    assert not [r for r in audit if r["bmc"] == misfit]
    peaks = max_down_per_group(audit, even_odd_group)
    assert peaks["even"] <= GROUPS["even"] and peaks["odd"] <= GROUPS["odd"], peaks
    # The canary finished before any other node was touched.
    (canary,) = rig.service.show(campaign_id).campaign.canaries
    canary_done = max(r["ts"] for r in audit if r["bmc"] == canary)
    others_start = min(r["ts"] for r in audit if r["bmc"] != canary)
    assert canary_done < others_start
    for bmc in rig.emulated.bmcs:
        assert not bmc.media.inserted and bmc.boot.enabled == "Disabled", bmc.id
    compliance = rig.service.compliance("lab")
    assert compliance.counts == {"compliant": 5, "not_applicable": 1}


@pytest.mark.parametrize("method", ["simple_update", "multipart_push"])
def test_the_bmc_is_told_which_components_to_update(rollout: RolloutFactory,
                                                    method: str) -> None:
    """Targets name the FirmwareInventory members the gateway planned, and nothing it
    ruled out (NIC is already at the image's version); SimpleUpdate names the
    TransferProtocol the BMC advertises."""
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": [method]})
    for bmc in rig.emulated.bmcs:
        bmc.firmware.install("NIC", TARGET_VERSIONS["NIC"])
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed") == "completed"
    inventory = "/redfish/v1/UpdateService/FirmwareInventory"
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS
        (task,) = [t for t in bmc.tasks.all() if t.name == "Firmware update"]
        assert task.payload is not None
        asked = json.loads(task.payload["JsonBody"])
        assert asked["Targets"] == [f"{inventory}/BIOS", f"{inventory}/BMC"], asked
        if method == "simple_update":
            assert asked["TransferProtocol"] == "HTTP"
    assert not [r for r in rig.audit()
                if r["event"] == "flash_start" and r["component"] == "NIC"]
