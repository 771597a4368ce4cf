"""The BMC event receiver over real HTTP, and an emulated BMC pushing to it.

Each test starts its own receiver on 127.0.0.1 (a free port) and posts with
`requests`, as a BMC would; the last test subscribes a real emulated BMC
through BmcClient and waits for the events its firmware update pushes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from gateway.orchestrator.bmc_events import (
    MAX_EVENT_BYTES,
    BmcEvent,
    BmcEventReceiver,
    load_or_create_secret,
)
from gateway.orchestrator.client_pool import ClientPool
from gateway.orchestrator.errors import OrchestratorError
from gateway.orchestrator.inventory import EventDestination, subscribe
from gateway.redfish import BmcClient, BmcEndpoint
from tests.conftest import BundleFactory, ServedDirectory, TestKeys
from tests.integration.orchestrator.rig import TEST_MODEL

NIC_URI = "/redfish/v1/UpdateService/FirmwareInventory/NIC"


class Collector:
    """The receiver's on_events: remembers every call; ``wait_for`` blocks until a match."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[BmcEvent, ...]]] = []
        self._changed = threading.Condition()

    def __call__(self, node_id: str, events: tuple[BmcEvent, ...]) -> None:
        with self._changed:
            self.calls.append((node_id, events))
            self._changed.notify_all()

    def wait_for(self, match: Callable[[str, BmcEvent], bool], timeout: float) -> bool:
        """True once some received event satisfies ``match`` (a bounded wait, not a timing
        assertion)."""
        def found() -> bool:
            return any(match(node, event) for node, events in self.calls for event in events)
        with self._changed:
            return self._changed.wait_for(found, timeout)


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def receiver(collector: Collector) -> Iterator[BmcEventReceiver]:
    started = BmcEventReceiver("127.0.0.1", 0, "", secrets.token_bytes(32), collector)
    started.start()
    yield started
    started.stop()


def event_document(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.type": "#Event.v1_13_0.Event", "Id": "1", "Name": "Event",
            "Context": "node-1", "Events": list(events)}


CHANGED = {"MessageId": "ResourceEvent.1.4.3.ResourceChanged", "EventType": "Other",
           "OriginOfCondition": {"@odata.id": NIC_URI}}


def post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=10, **kwargs)


def path_of(url: str) -> str:
    return urlsplit(url).path


# ------------------------------------------------------------------ accepted events


def test_accepted_event_reaches_the_handler_parsed(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    bare = {"Message": "no id, no origin"}
    response = post(receiver.destination("node-1"), json=event_document(CHANGED, bare))
    assert response.status_code == 204
    assert response.content == b""
    assert collector.calls == [("node-1", (
        BmcEvent("ResourceEvent.1.4.3.ResourceChanged", NIC_URI, "Other"),
        BmcEvent("", "", "", (), "no id, no origin"),
    ))]
    assert (receiver.accepted, receiver.refused) == (1, 0)


def test_a_node_id_with_a_slash_and_a_space_is_delivered_under_that_id(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    destination = receiver.destination("rack 1/node-2")
    assert "/redfish-events/rack%201%2Fnode-2/" in destination
    assert post(destination, json=event_document(CHANGED)).status_code == 204
    assert [node for node, _ in collector.calls] == ["rack 1/node-2"]


def test_a_failing_handler_is_logged_and_the_bmc_still_gets_204(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(_node: str, _events: tuple[BmcEvent, ...]) -> None:
        raise RuntimeError("the store is locked")

    receiver = BmcEventReceiver("127.0.0.1", 0, "", secrets.token_bytes(32), broken)
    receiver.start()
    try:
        with caplog.at_level(logging.ERROR, logger="gateway.orchestrator.bmc_events"):
            response = post(receiver.destination("node-1"), json=event_document(CHANGED))
        assert response.status_code == 204
        assert b"Traceback" not in response.content
        failures = [r for r in caplog.records if r.exc_info is not None]
        assert len(failures) == 1
        assert "node-1" in failures[0].getMessage()
        assert "the store is locked" in str(failures[0].exc_info[1])  # type: ignore[index]
        assert receiver.accepted == 1
    finally:
        receiver.stop()


# ------------------------------------------------------------------ refused requests


def test_a_wrong_token_is_refused_with_401(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    url = receiver.destination("node-1")
    forged = url[:-1] + ("0" if url[-1] != "0" else "1")
    response = post(forged, json=event_document(CHANGED))
    assert response.status_code == 401
    assert response.json() == {"error": "wrong or missing event token"}
    assert collector.calls == []
    assert (receiver.accepted, receiver.refused) == (0, 1)


@pytest.mark.parametrize("tail", ["node-1/", "node-1", "", "node-1/not-hex-ü"])
def test_a_missing_token_is_refused_with_401(
        receiver: BmcEventReceiver, collector: Collector, tail: str) -> None:
    base = receiver.destination("x").split("/redfish-events/")[0]
    response = post(f"{base}/redfish-events/{tail}", json=event_document(CHANGED))
    assert response.status_code == 401
    assert collector.calls == []


def test_another_nodes_token_is_refused_with_401(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    token_of_a = receiver.destination("node-a").rsplit("/", 1)[1]
    url_for_b = receiver.destination("node-b").rsplit("/", 1)[0] + "/" + token_of_a
    assert post(url_for_b, json=event_document(CHANGED)).status_code == 401
    assert collector.calls == []


@pytest.mark.parametrize("path", ["/", "/redfish/v1/EventService", "/redfish-eventsX/a/b"])
def test_an_unknown_path_is_404(receiver: BmcEventReceiver, path: str) -> None:
    response = post(f"http://127.0.0.1:{receiver.port}{path}", json=event_document(CHANGED))
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_are_405_with_allow_post(
        receiver: BmcEventReceiver, collector: Collector, method: str) -> None:
    response = requests.request(method, receiver.destination("node-1"), timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert collector.calls == []


def test_a_body_over_64_kib_is_refused_with_413(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    padding = "x" * MAX_EVENT_BYTES
    body = json.dumps(event_document(CHANGED | {"Message": padding})).encode()
    response = post(receiver.destination("node-1"), data=body,
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert collector.calls == []


def test_a_chunked_body_over_64_kib_is_refused_with_413(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    # No Content-Length: only the bytes actually read can reveal the size.
    def chunks() -> Iterator[bytes]:
        yield b'{"Events": [{"Message": "'
        for _ in range(MAX_EVENT_BYTES // 4096 + 1):
            yield b"x" * 4096
        yield b'"}]}'

    response = post(receiver.destination("node-1"), data=chunks())
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413
    assert collector.calls == []


def test_a_chunked_event_is_read_whole(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    body = json.dumps(event_document(CHANGED | {"Message": "y" * 20000})).encode()
    pieces = [body[i:i + 1000] for i in range(0, len(body), 1000)]
    response = post(receiver.destination("node-1"), data=iter(pieces))
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 204
    assert collector.calls[0][1][0].origin == NIC_URI


def test_a_body_just_under_the_limit_is_accepted(
        receiver: BmcEventReceiver, collector: Collector) -> None:
    skeleton = json.dumps(event_document(CHANGED | {"Message": ""})).encode()
    padding = "x" * (MAX_EVENT_BYTES - len(skeleton))
    body = json.dumps(event_document(CHANGED | {"Message": padding})).encode()
    assert len(body) == MAX_EVENT_BYTES
    assert post(receiver.destination("node-1"), data=body).status_code == 204
    assert len(collector.calls) == 1


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", b""])
def test_a_body_that_is_not_json_is_400(
        receiver: BmcEventReceiver, collector: Collector, body: bytes) -> None:
    response = post(receiver.destination("node-1"), data=body)
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]
    assert collector.calls == []


@pytest.mark.parametrize("document", [
    [], {"Id": "1"}, {"Events": "ResourceChanged"}, {"Events": [CHANGED, "ResourceChanged"]},
])
def test_json_that_is_not_a_redfish_event_is_400(
        receiver: BmcEventReceiver, collector: Collector, document: object) -> None:
    response = post(receiver.destination("node-1"), json=document)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("not a Redfish Event") and "\n" not in error
    assert collector.calls == []
    assert receiver.refused == 1


def test_the_token_never_reaches_the_logs(
        receiver: BmcEventReceiver, caplog: pytest.LogCaptureFixture) -> None:
    url = receiver.destination("node-1")
    token = url.rsplit("/", 1)[1]
    with caplog.at_level(logging.DEBUG):
        post(url, json=event_document(CHANGED))
        post(url, data=b"{not json")
        post(url[:-2] + "00", json=event_document(CHANGED))
        requests.get(url, timeout=10)
    # Only the gateway's own records: the test's HTTP client logs its URLs too.
    text = "\n".join(r.getMessage() for r in caplog.records
                     if r.name.startswith(("gateway", "werkzeug")))
    assert "node-1" in text  # the logs do say which node
    assert token[:-2] not in text


# ------------------------------------------------------------------ lifecycle, URLs, secrets


def test_start_and_stop_are_idempotent_and_stop_closes_the_port(collector: Collector) -> None:
    receiver = BmcEventReceiver("127.0.0.1", 0, "", secrets.token_bytes(32), collector)
    receiver.start()
    port = receiver.port
    receiver.start()
    assert receiver.port == port and port != 0
    url = receiver.destination("node-1")
    assert post(url, json=event_document(CHANGED)).status_code == 204
    receiver.stop()
    receiver.stop()
    with pytest.raises(requests.ConnectionError):
        post(url, json=event_document(CHANGED))


def test_a_busy_port_is_a_clear_error(receiver: BmcEventReceiver, collector: Collector) -> None:
    second = BmcEventReceiver("127.0.0.1", receiver.port, "", secrets.token_bytes(32), collector)
    with pytest.raises(OrchestratorError, match=f"cannot listen on 127.0.0.1:{receiver.port}"):
        second.start()


def test_the_destination_survives_a_restart_with_the_same_secret(collector: Collector) -> None:
    secret = secrets.token_bytes(32)
    base = "https://gateway.example:8444/"
    first = BmcEventReceiver("0.0.0.0", 8444, base, secret, collector)
    again = BmcEventReceiver("0.0.0.0", 8444, base, secret, collector)
    other = BmcEventReceiver("0.0.0.0", 8444, base, secrets.token_bytes(32), collector)
    url = first.destination("node-1")
    assert url == again.destination("node-1")
    assert url.startswith("https://gateway.example:8444/redfish-events/node-1/")
    assert len(url.rsplit("/", 1)[1]) == 64
    assert url != other.destination("node-1")
    assert url != first.destination("node-2")


def test_a_restarted_receiver_accepts_the_urls_given_before(collector: Collector) -> None:
    secret = secrets.token_bytes(32)
    before = BmcEventReceiver("127.0.0.1", 0, "", secret, collector)
    before.start()
    path = path_of(before.destination("node-1"))
    before.stop()
    after = BmcEventReceiver("127.0.0.1", 0, "", secret, collector)
    after.start()
    try:
        response = post(f"http://127.0.0.1:{after.port}{path}", json=event_document(CHANGED))
        assert response.status_code == 204
        assert [node for node, _ in collector.calls] == ["node-1"]
    finally:
        after.stop()


def test_a_short_secret_is_refused(collector: Collector) -> None:
    with pytest.raises(OrchestratorError, match="too short: 31 bytes, at least 32"):
        BmcEventReceiver("127.0.0.1", 0, "", b"s" * 31, collector)


def test_load_or_create_secret_creates_a_private_file_and_rereads_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bmc-events.key"
    created = load_or_create_secret(path)
    assert len(created) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == created
    assert load_or_create_secret(path) == created
    assert os.listdir(path.parent) == ["bmc-events.key"]  # no temporary file left behind
    assert load_or_create_secret(tmp_path / "other.key") != created


def test_load_or_create_secret_refuses_a_short_file(tmp_path: Path) -> None:
    path = tmp_path / "bmc-events.key"
    path.write_bytes(b"short")
    with pytest.raises(OrchestratorError, match="bmc-events.key is too short: 5 bytes"):
        load_or_create_secret(path)
    assert path.read_bytes() == b"short"  # never silently replaced


def test_load_or_create_secret_names_an_unusable_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"x")
    with pytest.raises(OrchestratorError,
                       match="cannot read BMC event secret .*a-file/key: Not a directory"):
        load_or_create_secret(tmp_path / "a-file" / "key")
    with pytest.raises(OrchestratorError, match="cannot read .*: Is a directory"):
        load_or_create_secret(tmp_path)
    # sysfs refuses new files even to root.
    with pytest.raises(OrchestratorError, match="cannot create BMC event secret /sys/ff.key: "):
        load_or_create_secret(Path("/sys/ff.key"))


# ------------------------------------------------------------------ a real BMC pushing


@pytest.fixture
def emulated_node(test_keys: TestKeys) -> Iterator[dict[str, str]]:
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)], trusted_keys=[test_keys.public],
                         flash_seconds=0.1, reset_seconds=0.1, bmc_restart_seconds=0.3,
                         event_retry_interval_s=0.2) as cluster:
        yield cluster.inventory[0]


def subscriptions_on(node: dict[str, str]) -> list[dict[str, Any]]:
    """The BMC's EventDestinations, read over Redfish."""
    auth = (node["username"], node["password"])
    collection = requests.get(node["url"] + "/redfish/v1/EventService/Subscriptions",
                              auth=auth, timeout=10).json()
    return [requests.get(node["url"] + member["@odata.id"], auth=auth, timeout=10).json()
            for member in collection["Members"]]


def test_an_emulated_bmc_subscribed_once_pushes_its_firmware_change(
        emulated_node: dict[str, str], receiver: BmcEventReceiver, collector: Collector,
        bundle_factory: BundleFactory,
        http_bundle_server: Callable[[Path], ServedDirectory]) -> None:
    node_id = emulated_node["id"]
    endpoint = BmcEndpoint(node_id, emulated_node["url"], emulated_node["username"],
                           emulated_node["password"], timeout=10.0)
    bundle = bundle_factory()
    image_url = http_bundle_server(bundle.parent).url(bundle.name)
    destination = receiver.destination(node_id)
    with BmcClient.connect(endpoint) as client:
        # A subscription someone else made must neither be reused nor disturbed.
        unrelated = client.subscribe_events("http://127.0.0.1:9/elsewhere", context="other")
        first = client.ensure_event_subscription(destination, context="t")
        second = client.ensure_event_subscription(destination, context="t")
        assert first == second != unrelated
        ours = [s for s in subscriptions_on(emulated_node) if s["Destination"] == destination]
        assert len(ours) == 1 and ours[0]["@odata.id"] == first
        assert ours[0]["Context"] == "t"
        # The update messages too: a failing flash is pushed at once.
        assert ours[0]["RegistryPrefixes"] == ["TaskEvent", "Update", "ResourceEvent"]
        assert ours[0]["ResourceTypes"] == ["SoftwareInventory", "Task"]
        assert len(subscriptions_on(emulated_node)) == 2

        task = client.simple_update(image_url, targets=[NIC_URI])
        assert task is not None
        assert client.wait_task(task, timeout=60).succeeded

    def nic_changed(node: str, event: BmcEvent) -> bool:
        return (node == node_id and event.origin == NIC_URI
                and event.message_id.endswith(".ResourceChanged"))

    assert collector.wait_for(nic_changed, timeout=60), collector.calls
    # Task progress arrived on the same subscription.
    origins = {event.origin for _, events in collector.calls for event in events}
    assert any(origin.startswith("/redfish/v1/TaskService/Tasks/") for origin in origins)
    assert all(node == node_id for node, _ in collector.calls)
    assert receiver.refused == 0


def test_subscribing_removes_only_our_subscriptions_that_no_live_gateway_receives(
        emulated_node: dict[str, str], receiver: BmcEventReceiver) -> None:
    # A gateway taking a node over from a dead one: the dead one's subscription (same
    # Context, a destination no live gateway has) goes; a live gateway's, the operator's
    # own (another Context) and one the predicate does not name stay.
    node_id = emulated_node["id"]
    endpoint = BmcEndpoint(node_id, emulated_node["url"], emulated_node["username"],
                           emulated_node["password"], timeout=10.0)
    context = f"fleetflash {node_id}"
    dead = "http://127.0.0.1:9/redfish-events/dead-gateway/token"
    live = "http://127.0.0.1:10/redfish-events/live-gateway/token"
    with BmcClient.connect(endpoint) as client:
        client.subscribe_events(dead, context=context)
        client.subscribe_events(live, context=context)
        client.subscribe_events(dead + "-operator", context="operator's own")
        asked: list[str] = []

        def superseded(url: str) -> bool:
            asked.append(url)
            return url.startswith("http://127.0.0.1:9/")

        ours = client.ensure_event_subscription(receiver.destination(node_id),
                                                context=context, superseded=superseded)
        left = {s["Destination"]: s["@odata.id"] for s in subscriptions_on(emulated_node)}
        assert left == {receiver.destination(node_id): ours, live: left[live],
                        dead + "-operator": left[dead + "-operator"]}
        assert set(asked) == {dead, live}  # the other Context is not even considered
        # Asked again (a reconnect), nothing more goes and nothing is added.
        assert client.ensure_event_subscription(receiver.destination(node_id),
                                                context=context, superseded=superseded) == ours
        assert len(subscriptions_on(emulated_node)) == 3


def test_a_gateway_taken_for_dead_makes_sure_of_its_subscriptions_again(
        emulated_node: dict[str, str], receiver: BmcEventReceiver) -> None:
    # While this gateway was silent another member removed its subscription; once the
    # pool forgets what it subscribed, the next subscription finds it gone and makes it.
    node_id = emulated_node["id"]
    endpoint = BmcEndpoint(node_id, emulated_node["url"], emulated_node["username"],
                           emulated_node["password"], timeout=10.0)
    pool, events = ClientPool(), EventDestination(receiver.destination)
    try:
        subscribe(pool.get(endpoint), node_id, events)
        assert pool.pushes_events(node_id)
        (ours,) = subscriptions_on(emulated_node)
        with BmcClient.connect(endpoint) as other_member:
            other_member.unsubscribe_events(ours["@odata.id"])
        subscribe(pool.get(endpoint), node_id, events)  # remembered: nothing asked of the BMC
        assert subscriptions_on(emulated_node) == []
        pool.forget_events()
        assert not pool.pushes_events(node_id)
        subscribe(pool.get(endpoint), node_id, events)
        assert [s["Destination"] for s in subscriptions_on(emulated_node)] == [
            receiver.destination(node_id)]
        assert pool.pushes_events(node_id)
    finally:
        pool.close_all()


def test_two_threads_connecting_one_node_log_in_once(
        emulated_node: dict[str, str]) -> None:
    # A node's step and the idle refresh may ask the pool for the same node at once.
    endpoint = BmcEndpoint(emulated_node["id"], emulated_node["url"],
                           emulated_node["username"], emulated_node["password"], timeout=10.0)
    pool = ClientPool()
    start = threading.Barrier(4)
    clients: list[object] = []

    def connect() -> None:
        start.wait()
        clients.append(pool.get(endpoint))

    threads = [threading.Thread(target=connect) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(clients) == 4 and len({id(c) for c in clients}) == 1
        auth = (emulated_node["username"], emulated_node["password"])
        sessions = requests.get(emulated_node["url"] + "/redfish/v1/SessionService/Sessions",
                                auth=auth, timeout=10).json()["Members"]
        assert len(sessions) == 1
    finally:
        pool.close_all()
