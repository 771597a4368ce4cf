"""A node inventory could read but planning could not cover (a version of a component the
image updates that cannot be read) keeps the campaign from ending `completed`; a node of
another model does not."""

from __future__ import annotations

from tests.integration.orchestrator.conftest import RolloutFactory
from tests.integration.orchestrator.rig import OTHER_MODEL, TARGET_VERSIONS, TEST_MODEL


def test_an_unreadable_version_is_an_exclusion_and_another_model_is_not(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 3 + [OTHER_MODEL], groups={"all": 1})
    unreadable = rig.emulated.bmcs[2]
    unreadable.firmware.install("BIOS", "not-a-version")
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed_with_exclusions", "completed") == (
        "completed_with_exclusions")
    detail = rig.service.show(campaign_id)
    runs = {r.node_id: r for r in detail.runs}
    # The packages it could plan were applied and verified; the unreadable one is named.
    assert runs[unreadable.id].step == "done"
    assert (runs[unreadable.id].error or "").startswith("partly not applicable: bios-")
    assert "not-a-version" in (runs[unreadable.id].error or "")
    assert (runs["bmc-0003"].error or "").startswith("other model: ")
    reason = detail.campaign.reason
    assert reason.startswith("every node finished (3 done, 1 not_applicable); not covered: "
                             f"partly_not_applicable: 1 ({unreadable.id}: partly not "
                             "applicable: "), reason
    for bmc in rig.emulated.bmcs[:2]:
        assert bmc.firmware.installed() == TARGET_VERSIONS
    assert unreadable.firmware.installed() == {**TARGET_VERSIONS, "BIOS": "not-a-version"}
