"""EventService: subscriptions (201 + Location, filters, Context), pushed task and
resource events, bounded delivery retries, and the server-sent-event stream."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests

from tests.integration.emulator.conftest import Listener, http, wait_until

SUBSCRIPTIONS = "/redfish/v1/EventService/Subscriptions"


def _subscribe(node: dict[str, str], body: dict[str, Any]) -> requests.Response:
    return http(node).post(node["url"] + SUBSCRIPTIONS, json=body)


def _power_on(node: dict[str, str]) -> None:
    http(node).post(node["url"] + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                    json={"ResetType": "On"})


def test_subscription_is_created_with_location_and_echoes_context(
    cluster: Any, node: dict[str, str], listener: Listener, small_bundle_url: Any
) -> None:
    response = _subscribe(node, {"Destination": listener.url, "Context": "lab-7",
                                 "RegistryPrefixes": ["TaskEvent"], "Protocol": "Redfish"})
    assert response.status_code == 201
    location = response.headers["Location"]
    created = http(node).get(node["url"] + location).json()
    assert created["Destination"] == listener.url and created["Context"] == "lab-7"
    url, _served, _path = small_bundle_url
    http(node).post(node["url"] + "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                    json={"ImageURI": url, "Targets": ["/redfish/v1/Systems/1"]})
    wait_until(lambda: "TaskCompletedOK" in listener.message_ids())
    # In order, as the task went: started, progress that only grows, completed.
    ids = listener.message_ids()
    assert ids[0] == "TaskStarted" and ids[-1] == "TaskCompletedOK"
    progress = [int(e["MessageArgs"][1]) for doc in listener.received for e in doc["Events"]
                if e["MessageId"].endswith("TaskProgressChanged")]
    assert len(progress) >= 2 and progress == sorted(progress)
    assert {doc["Context"] for doc in listener.received} == {"lab-7"}
    # RegistryPrefixes=TaskEvent: no ResourceEvent arrived even though NIC changed.
    assert all(e["MessageId"].startswith("TaskEvent.") for d in listener.received
               for e in d["Events"])
    assert http(node).delete(node["url"] + location).status_code == 204
    assert http(node).get(node["url"] + location).status_code == 404


def test_message_id_and_resource_type_filters(
    cluster: Any, node: dict[str, str], listener: Listener
) -> None:
    assert _subscribe(node, {"Destination": listener.url,
                             "MessageIds": ["ResourceEvent.1.4.ResourcePoweredOn"],
                             "ResourceTypes": ["ComputerSystem"]}).status_code == 201
    _power_on(node)
    wait_until(lambda: listener.received)
    event = listener.received[0]["Events"][0]
    assert event["MessageId"].endswith("ResourcePoweredOn")
    assert event["OriginOfCondition"]["@odata.id"] == "/redfish/v1/Systems/1"
    assert listener.message_ids() == ["ResourcePoweredOn"]


def test_delivery_retries_are_bounded(
    cluster_factory: Any, listener: Listener
) -> None:
    cluster = cluster_factory(event_retry_attempts=3, event_retry_interval_s=0.05)
    node = cluster.inventory[0]
    listener.status = 500
    _subscribe(node, {"Destination": listener.url, "ResourceTypes": ["ComputerSystem"]})
    _power_on(node)
    wait_until(lambda: len(listener.received) >= 3)
    # Give a runaway retry loop time to show itself; then count.
    threading.Event().wait(0.5)
    assert len(listener.received) == 3
    assert {doc["Id"] for doc in listener.received} == {listener.received[0]["Id"]}


@pytest.mark.parametrize(
    ("description", "body", "message"),
    [
        ("destination missing", {"Context": "x"}, "PropertyMissing"),
        ("destination not a URL", {"Destination": "ftp://x/"}, "PropertyValueFormatError"),
        ("unknown registry prefix", {"Destination": "http://127.0.0.1:9/e",
                                     "RegistryPrefixes": ["Nope"]}, "PropertyValueNotInList"),
        ("wrong type", {"Destination": "http://127.0.0.1:9/e", "MessageIds": "x"},
         "PropertyValueTypeError"),
        ("unknown property", {"Destination": "http://127.0.0.1:9/e", "Colour": "red"},
         "PropertyUnknown"),
    ],
)
def test_bad_subscriptions_are_refused(
    cluster: Any, node: dict[str, str], description: str, body: dict[str, Any], message: str
) -> None:
    response = _subscribe(node, body)
    assert response.status_code == 400, description
    assert response.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(message)
    assert http(node).get(node["url"] + SUBSCRIPTIONS).json()["Members"] == []


def test_server_sent_events_stream(cluster: Any, node: dict[str, str]) -> None:
    service = http(node).get(node["url"] + "/redfish/v1/EventService").json()
    stream = http(node).get(node["url"] + service["ServerSentEventUri"], stream=True, timeout=10)
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    lines = stream.iter_lines()
    assert next(lines).startswith(b":")  # the greeting comment: the stream is open
    _power_on(node)
    for line in lines:
        if line.startswith(b"data: "):
            event = json.loads(line[len(b"data: "):])
            break
    stream.close()
    assert event["Events"][0]["MessageId"].endswith("ResourcePoweredOn")
