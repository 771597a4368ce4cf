"""The media gate after a withdrawal, per source policy, on a real store: under
finish_in_flight only updates that began before the withdrawal are still served;
under stop_now nothing is."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.domain import RunProgress
from gateway.media import CapabilityGrant
from gateway.orchestrator import CampaignMediaGate
from gateway.orchestrator.peer_images import PEER_CAMPAIGN
from gateway.store import Decision, GatewayStore, ImageState, NewAlert, utcnow
from gateway.store.campaigns import CampaignStore
from tests.unit.gateway.orchestrator.conftest import SHA, CampaignFactory

STEPS = {"began": "monitor", "late": "deliver", "precheck": "precheck", "verified": "eject"}


def _grant(node: str, campaign: str = "c1") -> CapabilityGrant:
    return CapabilityGrant(SHA, campaign, node, 2**40)


def _served(gate: CampaignMediaGate) -> set[str]:
    return {node for node in STEPS if gate.allows(_grant(node))}


@pytest.fixture
def withdrawn(stores: tuple[GatewayStore, CampaignStore],
              make_campaign: CampaignFactory) -> tuple[GatewayStore, CampaignStore]:
    """Runs of campaign c1 in MONITOR, DELIVER, PRECHECK and EJECT, the image withdrawn
    between the start of the first update and that of the second."""
    images, store = stores
    make_campaign(state="running", steps=STEPS)
    before = utcnow() - timedelta(seconds=5)
    for node, began in (("began", before), ("verified", before),
                        ("late", utcnow() + timedelta(seconds=5))):
        assert store.save_run("c1", node, owner=None, expected_step=STEPS[node],
                              progress=RunProgress(reset_intent=began))
    assert _served(CampaignMediaGate(images, store)) == set(STEPS)  # not withdrawn yet
    admission = images.admit_withdrawal(NewAlert(
        channel="cli", decision=Decision.ACCEPTED, reason="", source="acme",
        indication_identifier="i-2", message_id="FWUP0002", image_sha256=SHA,
        image_uri="http://h.example/a.iso", bundle_id="b", release="r"))
    assert admission.image_state is ImageState.WITHDRAWN, admission
    return images, store


def test_finish_in_flight_serves_only_updates_begun_before_the_withdrawal(
        withdrawn: tuple[GatewayStore, CampaignStore]) -> None:
    gate = CampaignMediaGate(*withdrawn, stop_now=["other-source"])
    # Not a node still in PRECHECK, an update (or redelivery) begun after the withdrawal,
    # a node past VERIFY, or a peer gateway copying the image.
    assert _served(gate) == {"began"}
    assert not gate.allows(_grant("began", PEER_CAMPAIGN))


def test_stop_now_serves_nothing(withdrawn: tuple[GatewayStore, CampaignStore]) -> None:
    assert _served(CampaignMediaGate(*withdrawn, stop_now=["acme"])) == set()
