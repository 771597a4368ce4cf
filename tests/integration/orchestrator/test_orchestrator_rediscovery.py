"""A BMC whose shape changes under the gateway (reshaped-by-bmc-update: its own firmware
update moves virtual media to Systems, renames FirmwareInventory members and drops
multipart push) is discovered again from its service root, once, and updated to
``done`` with its versions read back and each component flashed exactly once
(docs/interop.md, "Vendor quirks")."""

from __future__ import annotations

import pytest

from gateway.orchestrator.reports import NodeReport
from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL, flash_counts
from tests.support.waiting import wait_until

FINISHED = ("done", "not_applicable", "skipped", "failed", "quarantined")
RESHAPE = "reshaped-by-bmc-update"


def _finished(rig: Rollout) -> dict[str, NodeReport]:
    campaign_id = rig.campaign_id()
    assert wait_until(lambda: all(r.step in FINISHED
                                  for r in rig.service.show(campaign_id).runs), 120), \
        rig.service.report(campaign_id).to_json()
    return {r.node_id: r for r in rig.service.report(campaign_id).nodes}


def _done_once(rig: Rollout, method: str) -> None:
    nodes = _finished(rig)
    for node_id, node in nodes.items():
        assert node.outcome == "done", (node_id, node.outcome, node.error)
        assert node.method == method
        assert node.after_versions == TARGET_VERSIONS
        assert rig.emulated.bmc(node_id).firmware.installed() == TARGET_VERSIONS
    counts = flash_counts(rig.audit())
    assert len(counts) == 3 * len(nodes) and set(counts.values()) == {1}, counts


@pytest.mark.parametrize("method", ["msc", "simple_update", "multipart_push"])
def test_a_bmc_reshaped_by_its_own_update_is_rediscovered(rollout: RolloutFactory,
                                                          method: str) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 2},
                  cluster={"delivery": [method]}, quirks=[RESHAPE])
    rig.announce()
    _done_once(rig, method)
    reshaped = [r["bmc"] for r in rig.audit() if r["event"] == "bmc_reshaped"]
    assert sorted(reshaped) == sorted(b.id for b in rig.emulated.bmcs)
    for bmc in rig.emulated.bmcs:
        assert not bmc.media.inserted  # the CD, moved to Systems, was found and ejected
