"""The gateway's own update CD whose record the database lost (an outage that took its
last commits, see test_orchestrator_database_loss.py): the BMC holds a capability URL
of the fleet, but the run's progress does not list it. The URL's MAC proves it is the
gateway's, so it is used and ejected like any recorded one; a URL granted for another
node, or one that does not verify, stays exactly where it is (docs/orchestration.md,
"Operator state")."""

from __future__ import annotations

import base64
from collections import Counter

from emulator.bmc import Bmc
from gateway.media.service import MediaUrls
from gateway.orchestrator.runtime import CAPABILITY_LIFETIME_S
from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL
from tests.support.waiting import wait_until

ANOTHER_GATEWAY = "http://127.0.0.1:9"  # a fleet member's media server (never reached)


def _urls(rig: Rollout) -> MediaUrls:
    assert rig.gateway.orchestration is not None
    return rig.gateway.orchestration.urls


def _pending_campaign(rig: Rollout) -> str:
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.service.show(campaign_id).campaign.state == "pending_approval"
    return campaign_id


def _gateway_url(rig: Rollout, campaign_id: str, node_id: str) -> str:
    """The URL the gateway hands this node's BMC (it mints the same one every time)."""
    created = rig.service.show(campaign_id).campaign.created_at
    return _urls(rig).url_for(image_sha256=rig.sha256, campaign_id=campaign_id,
                              node_id=node_id,
                              expires_at=int(created.timestamp()) + CAPABILITY_LIFETIME_S)


def _insert(bmc: Bmc, url: str) -> None:
    bmc.insert_media(url, write_protected=True, protocol="HTTP", method="Stream")


def test_own_cds_whose_records_were_lost_are_used_and_ejected(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 4, groups={"all": 1},
                  cluster={"delivery": ["msc"], "autonomy": "require_approval"},
                  orchestrator={"cd_settle_s": 1})
    campaign_id = _pending_campaign(rig)
    first, second, third, fourth = rig.emulated.bmcs
    # The insert reached the BMC; the record of it (and the node's start) did not last.
    _insert(first, _gateway_url(rig, campaign_id, first.id))
    first.set_boot_override("Cd", "Once", None)  # boot_cd's override went with it
    # The same without the override: did the CD boot already (and may be flashing)?
    # Not knowable, so no reset into it: the versions are watched for cd_settle_s first.
    _insert(fourth, _gateway_url(rig, campaign_id, fourth.id))
    # Another campaign's CD of this node, from another gateway of the fleet, whose eject
    # was lost; and one already expired.
    _insert(second, _urls(rig).url_for(image_sha256=rig.sha256, campaign_id="earlier",
                                       node_id=second.id, expires_at=2_000_000_000)
            .replace(_urls(rig).base_url, ANOTHER_GATEWAY))
    _insert(third, _urls(rig).url_for(image_sha256=rig.sha256, campaign_id="earlier",
                                      node_id=third.id, expires_at=1))
    approved_at = len(rig.emulated.audit.records())
    rig.service.approve(campaign_id)

    assert rig.wait_state(campaign_id, "completed", "failed") == "completed", \
        rig.service.report(campaign_id).to_json()
    assert {r.step for r in rig.service.show(campaign_id).runs} == {"done"}
    assert {n.method for n in rig.service.report(campaign_id).nodes} == {"msc"}
    for bmc in rig.emulated.bmcs:
        assert bmc.firmware.installed() == TARGET_VERSIONS, bmc.id
        assert not bmc.media.inserted and bmc.media.image is None, (bmc.id, bmc.media)
        assert bmc.boot.enabled == "Disabled", (bmc.id, bmc.boot)
    # The first and fourth nodes' CDs were already the ones to deliver: never inserted
    # again; the fourth was booted only once its settle time had passed.
    audit = rig.emulated.audit.records()[approved_at:]
    inserted = {r["bmc"] for r in audit if r["event"] == "media_insert"}
    assert not {first.id, fourth.id} & inserted, inserted
    runs = {r.node_id: r for r in rig.service.show(campaign_id).runs}
    assert (runs[first.id].progress.redeliveries, runs[fourth.id].progress.redeliveries) \
        == (0, 1)
    flashed = Counter((r["bmc"], r["component"]) for r in audit if r["event"] == "flash_end")
    assert set(flashed.values()) == {1} and len(flashed) == 4 * len(TARGET_VERSIONS), flashed


def _forged(url: str) -> str:
    """``url`` with its MAC's first byte changed: the right shape, not authentic."""
    base, token, name = url.rsplit("/", 2)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[-16] ^= 0xFF
    return f"{base}/{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}/{name}"


def test_another_nodes_cd_and_a_forged_url_are_left_alone(rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": ["msc", "simple_update"],
                           "autonomy": "require_approval"})
    campaign_id = _pending_campaign(rig)
    first, second = rig.emulated.bmcs
    others = _gateway_url(rig, campaign_id, second.id)  # as if the two shared one CD
    forged = _forged(_gateway_url(rig, campaign_id, second.id))
    _insert(first, others)
    _insert(second, forged)
    approved_at = len(rig.emulated.audit.records())
    rig.service.approve(campaign_id)

    assert rig.wait_state(campaign_id, "completed", "failed") == "completed", \
        rig.service.report(campaign_id).to_json()
    # MSC would have replaced them: each BMC pulled the image instead.
    assert {n.method for n in rig.service.report(campaign_id).nodes} == {"simple_update"}
    for bmc, url in ((first, others), (second, forged)):
        assert bmc.firmware.installed() == TARGET_VERSIONS, bmc.id
        assert bmc.media.inserted and bmc.media.image == url, (bmc.id, bmc.media)
    assert not [r for r in rig.emulated.audit.records()[approved_at:]
                if r["event"] in ("media_insert", "media_eject")]


def test_msc_only_fails_a_node_holding_another_nodes_cd_with_the_reason(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL] * 2, groups={"all": 1},
                  cluster={"delivery": ["msc"], "autonomy": "require_approval"})
    campaign_id = _pending_campaign(rig)
    first, second = rig.emulated.bmcs
    (canary,) = rig.service.show(campaign_id).campaign.canaries
    holder, other = (first, second) if canary == first.id else (second, first)
    url = _gateway_url(rig, campaign_id, other.id)
    _insert(holder, url)
    rig.service.approve(campaign_id)

    assert rig.wait_state(campaign_id, "failed") == "failed"
    run = rig.quarantined_canary(campaign_id)
    assert f"the gateway's update CD for node {other.id}" in (run.error or ""), run.error
    assert holder.media.inserted and holder.media.image == url
    assert holder.firmware.installed()["BMC"] == "1.0.0"


def test_a_node_whose_lost_delivery_completed_is_not_flashed_and_its_cd_ejected(
        rollout: RolloutFactory) -> None:
    rig = rollout(models=[TEST_MODEL], groups={"all": 1},
                  cluster={"delivery": ["msc"], "autonomy": "require_approval"})
    campaign_id = _pending_campaign(rig)
    (bmc,) = rig.emulated.bmcs
    # The whole delivery happened; the database lost every record of it.
    _insert(bmc, _gateway_url(rig, campaign_id, bmc.id))
    for component, version in TARGET_VERSIONS.items():
        bmc.firmware.install(component, version)
    approved_at = len(rig.emulated.audit.records())
    rig.service.approve(campaign_id)

    assert rig.wait_state(campaign_id, "completed", "failed") == "completed", \
        rig.service.report(campaign_id).to_json()
    wait_until(lambda: not bmc.media.inserted, 30, describe=lambda: bmc.media)
    (run,) = rig.service.show(campaign_id).runs
    assert run.step in ("done", "skipped"), (run.step, run.error)
    audit = rig.emulated.audit.records()[approved_at:]
    assert [r["event"] for r in audit if r["event"].startswith(("flash", "media"))] == [
        "media_eject"], audit
