"""Real sushy against the emulator where sushy needs more than the update path:
the EventService (its Actions, SubmitTestEvent, the deprecated EventTypes filter)
and the virtual CD found through the System as well as the Manager."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sushy

from tests.integration.emulator.conftest import Listener, http, sushy_client, wait_until

SUBSCRIPTIONS = "/redfish/v1/EventService/Subscriptions"


def test_sushy_reads_the_event_service_and_submits_a_test_event(
    node: dict[str, str], listener: Listener
) -> None:
    service = sushy_client(node).get_event_service()
    assert service.service_enabled is True
    assert sushy.EventType.ALERT in service.get_event_types_for_subscription()
    service.subscriptions.create({"Destination": listener.url, "Protocol": "Redfish",
                                  "Context": "sushy"})
    service.submit_test_event(
        event_id="t-1", event_timestamp="2026-12-06T05:00:00Z", event_type="Alert",
        message="fan 3 is loud", message_args=["3"], message_id="Base.1.0.Success",
        origin="/redfish/v1/Chassis/1", severity="Warning")
    wait_until(lambda: listener.received)
    [event] = listener.received[0]["Events"]
    assert listener.received[0]["Context"] == "sushy"
    assert event["MessageId"] == "Base.1.0.Success" and event["Message"] == "fan 3 is loud"
    assert event["EventId"] == "t-1" and event["EventType"] == "Alert"
    assert event["MessageSeverity"] == "Warning"
    assert event["OriginOfCondition"] == {"@odata.id": "/redfish/v1/Chassis/1"}


def test_submit_test_event_without_message_id_is_refused(node: dict[str, str]) -> None:
    response = http(node).post(
        node["url"] + "/redfish/v1/EventService/Actions/EventService.SubmitTestEvent",
        json={"EventType": "Alert"})
    assert response.status_code == 400
    info = response.json()["error"]["@Message.ExtendedInfo"][0]
    assert info["MessageId"].endswith("ActionParameterMissing")
    assert "MessageId" in info["MessageArgs"]


def test_deprecated_event_types_are_accepted_and_filter_delivery(
    node: dict[str, str], listener_factory: Callable[[], Listener]
) -> None:
    alerts, status = listener_factory(), listener_factory()
    service = sushy_client(node).get_event_service()
    service.subscriptions.create({"Destination": alerts.url, "EventTypes": ["Alert"],
                                  "Protocol": "Redfish"})
    created = http(node).post(node["url"] + SUBSCRIPTIONS, json={
        "Destination": status.url, "EventTypes": ["StatusChange"], "Protocol": "Redfish"})
    assert created.status_code == 201
    echoed = http(node).get(node["url"] + created.headers["Location"]).json()
    assert echoed["EventTypes"] == ["StatusChange"]
    # A power-on is a status change; the test event an alert.
    http(node).post(node["url"] + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                    json={"ResetType": "On"})
    service.submit_test_event(
        event_id="t-2", event_timestamp="2026-12-06T05:00:00Z", event_type="Alert",
        message="test", message_args=[], message_id="Base.1.0.Success",
        origin="/redfish/v1/Systems/1", severity="OK")
    wait_until(lambda: "ResourcePoweredOn" in status.message_ids() and alerts.received)
    assert alerts.message_ids() == ["Success"]
    assert "Success" not in status.message_ids()
    assert {e["EventType"] for doc in status.received for e in doc["Events"]} == {
        "StatusChange"}


def test_unknown_event_type_is_refused_naming_it(node: dict[str, str]) -> None:
    response = http(node).post(node["url"] + SUBSCRIPTIONS, json={
        "Destination": "http://127.0.0.1:9/events", "EventTypes": ["Sometimes"]})
    assert response.status_code == 400
    info = response.json()["error"]["@Message.ExtendedInfo"][0]
    assert info["MessageId"].endswith("PropertyValueNotInList")
    assert info["MessageArgs"] == ["Sometimes", "EventTypes"]
    assert http(node).get(node["url"] + SUBSCRIPTIONS).json()["Members"] == []


def test_sushy_finds_virtual_media_under_the_system_and_it_is_the_managers_drive(
    cluster: Any, node: dict[str, str]
) -> None:
    system = sushy_client(node).get_system("/redfish/v1/Systems/1")
    [cd] = system.virtual_media.get_members()
    assert cd.path == "/redfish/v1/Systems/1/VirtualMedia/CD"
    assert cd.inserted is False
    cd.insert_media("http://127.0.0.1:9/images/update.iso", inserted=True,
                    write_protected=True)
    # One drive, seen from both places.
    under_manager = http(node).get(
        node["url"] + "/redfish/v1/Managers/1/VirtualMedia/CD").json()
    assert under_manager["Inserted"] is True
    assert under_manager["Image"] == "http://127.0.0.1:9/images/update.iso"
    assert cluster.bmc(node["id"]).media.image == "http://127.0.0.1:9/images/update.iso"
    cd.refresh()
    assert cd.image == "http://127.0.0.1:9/images/update.iso"
    cd.eject_media()
    assert cluster.bmc(node["id"]).media.inserted is False
