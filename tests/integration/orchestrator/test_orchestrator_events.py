"""MONITOR driven by the BMCs' pushed events (EventService), with polling as the fallback.

The fallback is set far beyond the test's patience: the update CD finishes only
through events (the canary has no learned MONITOR time to poll at), so a
campaign that completes proves the events arrived and woke the nodes.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from tests.integration.orchestrator.conftest import RolloutFactory
from tests.integration.orchestrator.rig import TARGET_VERSIONS, flash_counts, free_port

EVENTS_ONLY = {"event_fallback_s": 3600}  # plus events_http, per test


def subscriptions_to(bmc_url: str, auth: tuple[str, str], destination: str) -> int:
    """How many of the BMC's event subscriptions push to ``destination``."""
    collection = requests.get(bmc_url + "/redfish/v1/EventService/Subscriptions",
                              auth=auth, timeout=10).json()
    count = 0
    for member in collection["Members"]:
        body = requests.get(bmc_url + member["@odata.id"], auth=auth, timeout=10).json()
        count += body["Destination"] == destination
    return count


def test_pushed_events_carry_an_msc_rollout_without_polling(rollout: RolloutFactory) -> None:
    port = free_port()
    rig = rollout(orchestrator={**EVENTS_ONLY, "events_http": f"127.0.0.1:{port}"},
                  groups={"all": 2})
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed", timeout=120) == "completed"

    report = rig.service.report(campaign_id)
    assert report.outcomes == {"done": 4}
    assert all(n.after_versions == TARGET_VERSIONS for n in report.nodes)
    assert set(flash_counts(rig.audit()).values()) == {1}
    orchestration = rig.gateway.orchestration
    assert orchestration is not None and orchestration.events is not None
    assert orchestration.events.accepted >= 4  # at least one firmware change per node
    # One standing subscription per BMC, pointing at this gateway's receiver.
    for node in rig.emulated.inventory:
        destination = orchestration.events.destination(node["id"])
        assert urlsplit(destination).port == port
        assert subscriptions_to(node["url"], (node["username"], node["password"]),
                                destination) == 1


def test_a_second_inventory_does_not_subscribe_again(rollout: RolloutFactory) -> None:
    rig = rollout(orchestrator={**EVENTS_ONLY, "events_http": f"127.0.0.1:{free_port()}"})
    orchestrator = rig.orchestrator
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed", timeout=120) == "completed"
    # The health refresh re-inventories every idle node (as after a gateway restart,
    # when the in-memory record of subscriptions is gone).
    orchestrator.engine.clients.close_all()
    orchestrator.refresh_health()
    orchestration = rig.gateway.orchestration
    assert orchestration is not None and orchestration.events is not None
    for node in rig.emulated.inventory:
        destination = orchestration.events.destination(node["id"])
        assert subscriptions_to(node["url"], (node["username"], node["password"]),
                                destination) == 1


def test_without_a_receiver_monitor_polls(rollout: RolloutFactory) -> None:
    rig = rollout(groups={"all": 2})
    rig.announce()
    campaign_id = rig.campaign_id()
    assert rig.wait_state(campaign_id, "completed") == "completed"
    orchestration = rig.gateway.orchestration
    assert orchestration is not None and orchestration.events is None
    for node in rig.emulated.inventory:
        collection = requests.get(node["url"] + "/redfish/v1/EventService/Subscriptions",
                                  auth=(node["username"], node["password"]), timeout=10)
        assert collection.json()["Members"] == []
