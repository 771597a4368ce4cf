"""The gateway updates BMCs that show a virtual-media, ETag or session quirk
(emulator/quirks.py; docs/interop.md, "Vendor quirks"): through every delivery method
the quirk touches, each node ends done with its versions read back, the audit log shows
exactly one flash per component, and no media or boot override is left behind."""

from __future__ import annotations

from collections import Counter

import pytest

from emulator.personalities import PERSONALITIES
from emulator.quirks import parse_quirks
from tests.integration.orchestrator.conftest import Rollout, RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL, flash_counts

VMEDIA_QUIRKS = [
    "vmedia-under-systems",
    "vmedia-insert-needs-inserted",
    "vmedia-insert-rejects-inserted-writeprotected",
    "vmedia-eject-needs-empty-body",
    "vmedia-stays-inserted-until-ejected-twice",
    "vmedia-boot-target-usbcd",
]
# Quirks that touch every delivery method (PATCH of the boot override, logging in).
EVERY_METHOD_QUIRKS = ["etag-required-on-patch", "session-limit=1",
                       "sessions-survive-bmc-restart"]
NODES = 3


def _rollout_with(rollout: RolloutFactory, quirk: str, method: str,
                  personality: str | None = None) -> Rollout:
    """A rig whose BMCs show ``quirk`` (or, with ``personality``, that family's identity
    and quirks), set before the campaign starts: the gateway has not talked to them."""
    rig = rollout(models=[TEST_MODEL] * NODES, groups={"all": 2},
                  cluster={"delivery": [method]})
    for bmc in rig.emulated.bmcs:
        if personality is None:
            bmc.quirks = parse_quirks([quirk])
        else:
            bmc.personality = PERSONALITIES[personality]
            bmc.manufacturer = bmc.personality.manufacturer
            bmc.quirks = bmc.personality.parsed_quirks()
    return rig


def _assert_every_node_done_once(rig: Rollout, method: str) -> None:
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed", "failed") == "completed", (
        rig.service.report(campaign_id).to_json())
    report = rig.service.report(campaign_id)
    assert report.outcomes == {"done": NODES}, [(n.node_id, n.outcome, n.error)
                                                for n in report.nodes]
    for node in report.nodes:
        assert node.method == method and node.after_versions == TARGET_VERSIONS, node
        assert rig.emulated.bmc(node.node_id).firmware.installed() == TARGET_VERSIONS
    audit = rig.audit()
    counts = flash_counts(audit)
    assert set(counts.values()) == {1} and len(counts) == NODES * len(TARGET_VERSIONS), counts
    for bmc in rig.emulated.bmcs:
        assert not bmc.media.inserted and bmc.media.image is None, bmc.id
        assert bmc.boot.enabled == "Disabled", (bmc.id, bmc.boot)
    if method == "msc":
        inserts = Counter(r["bmc"] for r in audit if r["event"] == "media_insert")
        ejects = Counter(r["bmc"] for r in audit if r["event"] == "media_eject")
        assert inserts == ejects and set(inserts.values()) == {1}, (inserts, ejects)


@pytest.mark.parametrize("quirk", VMEDIA_QUIRKS)
def test_msc_update_on_a_bmc_with_a_virtual_media_quirk(
        rollout: RolloutFactory, quirk: str) -> None:
    rig = _rollout_with(rollout, quirk, "msc")
    _assert_every_node_done_once(rig, "msc")


@pytest.mark.parametrize("payload_quirk", ["vmedia-insert-needs-inserted",
                                           "vmedia-insert-rejects-inserted-writeprotected"])
def test_msc_insert_payload_comes_from_the_action_info(
        rollout: RolloutFactory, payload_quirk: str) -> None:
    """InsertMedia names an ActionInfo: each node's one insert is accepted at once,
    the audit log shows no refused insert (docs/interop.md, "vmedia-insert-action-info")."""
    rig = rollout(models=[TEST_MODEL] * NODES, groups={"all": 2},
                  cluster={"delivery": ["msc"]})
    for bmc in rig.emulated.bmcs:
        bmc.quirks = parse_quirks([payload_quirk, "vmedia-insert-action-info"])
    _assert_every_node_done_once(rig, "msc")
    refused = [r for r in rig.audit() if r["event"] == "media_insert_refused"]
    assert not refused, refused


@pytest.mark.parametrize("method", ["msc", "simple_update", "multipart_push"])
@pytest.mark.parametrize("quirk", EVERY_METHOD_QUIRKS)
def test_update_on_a_bmc_with_an_etag_or_session_quirk(
        rollout: RolloutFactory, quirk: str, method: str) -> None:
    rig = _rollout_with(rollout, quirk, method)
    _assert_every_node_done_once(rig, method)


@pytest.mark.parametrize("personality", sorted(PERSONALITIES))
def test_msc_update_on_every_personality(rollout: RolloutFactory, personality: str) -> None:
    """Each family's quirks together, with its Manufacturer (sushy maps Cd to UsbCd on
    a Supermicro by name, the gateway by the allowable values)."""
    rig = _rollout_with(rollout, "", "msc", personality)
    _assert_every_node_done_once(rig, "msc")
