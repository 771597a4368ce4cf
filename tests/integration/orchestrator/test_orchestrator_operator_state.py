"""Operator state on the emulator: media an operator inserted and a boot override an
operator set are never ejected or cleared by the gateway, on success or on failure; MSC
is not used on a node whose virtual CD or boot override is the operator's."""

from __future__ import annotations

from emulator.bmc import Bmc
from gateway.domain import NodeStep
from tests.integration.orchestrator.conftest import RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL

OPERATOR_ISO = "http://127.0.0.1:9/operator-rescue.iso"


def operator_prepares(bmc: Bmc, enabled: str = "Continuous") -> None:
    """What an operator may have done before the campaign: their own CD and a PXE boot."""
    bmc.insert_media(OPERATOR_ISO, write_protected=True, protocol="HTTP", method="Stream")
    bmc.set_boot_override("Pxe", enabled, None)


def operator_state_intact(bmc: Bmc, enabled: str) -> bool:
    return (bmc.media.inserted and bmc.media.image == OPERATOR_ISO
            and (bmc.boot.target, bmc.boot.enabled) == ("Pxe", enabled))


def test_an_updated_node_keeps_the_operators_media_and_boot_override(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 3, groups={"all": 2},
                  cluster={"delivery": ["msc", "simple_update"]})
    for bmc in rig.emulated.bmcs:
        operator_prepares(bmc)
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed") == "completed"
    report = rig.service.report(campaign_id)
    # MSC would have replaced the operator's CD: the BMC pulled the image instead.
    assert {n.method for n in report.nodes} == {"simple_update"}
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS
        assert operator_state_intact(bmc, "Continuous"), (bmc.id, bmc.media, bmc.boot)
    assert not [r for r in rig.audit() if r["event"] == "media_eject"]


def test_a_failed_node_keeps_the_operators_media_and_boot_override(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": ["simple_update"]})
    for bmc in rig.emulated.bmcs:
        operator_prepares(bmc, "Once")
        bmc.faults.set("flash_fails")
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"
    rig.quarantined_canary(campaign_id)
    for bmc in rig.emulated.bmcs:
        assert operator_state_intact(bmc, "Once"), (bmc.id, bmc.media, bmc.boot)


def test_msc_only_refuses_a_node_with_operator_media_at_precheck(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1}, cluster={"delivery": ["msc"]})
    for bmc in rig.emulated.bmcs:
        operator_prepares(bmc)
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"
    run = rig.quarantined_canary(campaign_id)
    assert run.progress.failed_in is NodeStep.PRECHECK
    assert "holds media the gateway did not insert" in (run.error or ""), run.error
    for bmc in rig.emulated.bmcs:
        assert operator_state_intact(bmc, "Continuous"), (bmc.id, bmc.media, bmc.boot)
        assert bmc.firmware.installed()["BMC"] == "1.0.0"
