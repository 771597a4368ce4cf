"""A BMC whose shape changes under the gateway (reshaped-by-bmc-update: its own firmware
update moves virtual media to Systems, renames FirmwareInventory members and drops
multipart push) is discovered again from its service root, once, and updated to
``done`` with its versions read back and each component flashed exactly once
(docs/interop.md, "Vendor quirks")."""

from __future__ import annotations

import pytest

from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TEST_MODEL
from tests.support.waiting import wait_until

RESHAPE = "reshaped-by-bmc-update"


@pytest.mark.parametrize("method", ["msc", "simple_update", "multipart_push"])
def test_a_bmc_reshaped_by_its_own_update_is_rediscovered(rollout: RolloutFactory,
                                                          method: str) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 2},
                  cluster={"delivery": [method]}, quirks=[RESHAPE])
    rig.announce()
    rig.all_done_once(method)
    reshaped = [r["bmc"] for r in rig.audit() if r["event"] == "bmc_reshaped"]
    assert sorted(reshaped) == sorted(b.id for b in rig.emulated.bmcs)
    for bmc in rig.emulated.bmcs:
        assert not bmc.media.inserted  # the CD, moved to Systems, was found and ejected


def _pending_campaign(rig: Rollout) -> str:
    """Announce under require_approval: the campaign inventories, then waits."""
    rig.announce()
    campaign_id = rig.campaign_id()
    rig.wait_state(campaign_id, "pending_approval")
    return campaign_id


def test_a_bmc_reshaped_between_inventory_and_delivery_is_rediscovered(
        rollout: RolloutFactory) -> None:
    """The inventory saw multipart push and the CD under the Manager; an operator's BMC
    update (outside the campaign) then reshaped the BMC. The push the gateway chose is
    refused (404): the BMC is discovered again and delivered to by what it offers now."""
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 2},
                  cluster={"delivery": ["multipart_push", "simple_update"],
                           "autonomy": "require_approval"}, quirks=[RESHAPE])
    campaign_id = _pending_campaign(rig)
    for bmc in rig.emulated.bmcs:  # the lab's hook: a BMC update nobody told the gateway of
        bmc.restart_bmc("operator's BMC update",
                        on_back=lambda b=bmc: b.activate_bmc_firmware("1.9.0", None))
    assert wait_until(lambda: all(not b.manager_restarting for b in rig.emulated.bmcs), 30)
    rig.service.approve(campaign_id)
    rig.all_done_once("simple_update")


def test_a_bmc_that_keeps_its_shape_is_not_rediscovered_every_step(
        rollout: RolloutFactory) -> None:
    """Without a reshape the remembered URIs serve the whole run: the BMC is discovered
    (a walk from the service root through its Systems) at the inventory and again only
    after the BMC's own restart (its update), never per step or per poll."""
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 2},
                  cluster={"delivery": ["simple_update"]})
    before = {b.id: b.counts["walk"] for b in rig.emulated.bmcs}
    rig.announce()
    rig.all_done_once("simple_update")
    for bmc in rig.emulated.bmcs:
        restarts = [r for r in rig.audit() if r["event"] == "bmc_restart" and
                    r["bmc"] == bmc.id]
        walks = bmc.counts["walk"] - before[bmc.id]
        assert len(restarts) == 1, restarts
        assert walks == 2, walks  # the inventory's, and once after the restart
