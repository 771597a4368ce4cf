"""A BMC whose virtual CD offers no InsertMedia action: MSC is refused at precheck with
the missing action named (nothing is delivered), or another allowed method is used."""

from __future__ import annotations

from gateway.domain import NodeStep
from tests.integration.orchestrator.conftest import RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL


def test_msc_without_insert_media_is_refused_at_precheck(rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1}, cluster={"delivery": ["msc"]})
    for bmc in rig.emulated.bmcs:
        bmc.insert_media_action = False
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "failed") == "failed"
    run = rig.quarantined_canary(campaign_id)
    assert run.progress.failed_in is NodeStep.PRECHECK, (run.progress, run.error)
    assert "no VirtualMedia.InsertMedia action" in (run.error or ""), run.error
    assert not [r for r in rig.audit() if r["event"] in ("media_insert", "reset")]


def test_msc_without_insert_media_falls_back_to_an_allowed_method(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": ["msc", "multipart_push"]})
    for bmc in rig.emulated.bmcs:
        bmc.insert_media_action = False
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed") == "completed"
    assert {n.method for n in rig.service.report(campaign_id).nodes} == {"multipart_push"}
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS
