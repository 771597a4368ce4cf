"""Fixtures for emulator integration tests: real clusters on loopback ports,
real signed bundles served over HTTP (Range), and sushy clients."""

from __future__ import annotations

import functools
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import sushy
from flask import Flask, request

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from tests.support.waiting import wait_until as support_wait_until
from tests.support.wsgi import serving

TEST_MODEL = "FF-TEST"  # the model of the root conftest's small bundle
START_FIRMWARE = {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "7.0"}


def make_nodes(count: int, **overrides: Any) -> list[NodeSpec]:
    """NodeSpecs for the small test bundle: it upgrades every component of these."""
    firmware = dict(START_FIRMWARE)
    firmware.update(overrides.pop("firmware", {}))
    return [NodeSpec(model=TEST_MODEL, firmware=dict(firmware), **overrides)
            for _ in range(count)]


@dataclass
class Listener:
    """A real HTTP event listener on loopback recording every POSTed event."""

    url: str
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)

    def message_ids(self) -> list[str]:
        return [e["MessageId"].rsplit(".", 1)[1] for doc in self.received for e in doc["Events"]]


@pytest.fixture
def listener_factory() -> Iterator[Callable[[], Listener]]:
    """start() -> a new Listener on a free port; all are stopped after the test."""
    with ExitStack() as servers:

        def start() -> Listener:
            app = Flask("event-listener")
            state = Listener(url="")

            @app.post("/events")
            def receive() -> tuple[str, int]:
                state.received.append(json.loads(request.get_data()))
                return "", state.status

            state.url = servers.enter_context(serving(app)) + "/events"
            return state

        yield start


@pytest.fixture
def listener(listener_factory: Callable[[], Listener]) -> Listener:
    return listener_factory()


@pytest.fixture
def cluster_factory(test_keys: Any, tmp_path: Path) -> Iterator[Callable[..., EmulatedCluster]]:
    """start(**settings) -> a running EmulatedCluster with fast test timings."""
    started: list[EmulatedCluster] = []

    def start(**settings: Any) -> EmulatedCluster:
        defaults: dict[str, Any] = {
            "nodes": make_nodes(1),
            "trusted_keys": [test_keys.public],
            "flash_seconds": 0.2,
            "reset_seconds": 0.1,
            "bmc_restart_seconds": 1.0,  # the refused window tests watch for
            "audit_log": tmp_path / f"audit-{len(started)}.jsonl",
            "event_retry_interval_s": 0.1,
            "worker_threads": 4,
        }
        defaults.update(settings)
        cluster = EmulatedCluster(**defaults).start()
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def cluster(cluster_factory: Callable[..., EmulatedCluster]) -> EmulatedCluster:
    return cluster_factory()


@pytest.fixture
def node(cluster: EmulatedCluster) -> dict[str, str]:
    return cluster.inventory[0]


def sushy_client(node: dict[str, str]) -> sushy.Sushy:
    return sushy.Sushy(node["url"] + "/redfish/v1", auth=sushy.auth.BasicAuth(
        username=node["username"], password=node["password"]))


def http(node: dict[str, str]) -> requests.Session:
    session = requests.Session()
    session.auth = (node["username"], node["password"])
    return session


SIMPLE_UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"


def simple_update(node: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """POST SimpleUpdate with ``body`` (accepted: 202) and wait for its task to finish;
    returns the finished task."""
    session = http(node)
    response = session.post(node["url"] + SIMPLE_UPDATE, json=body)
    assert response.status_code == 202, response.text
    monitor = node["url"] + response.headers["Location"]
    done: dict[str, Any] = wait_until(
        lambda: (r := session.get(monitor)).status_code == 200 and r.json())
    return done


# The one wait (tests.support.waiting), where a BMC that is restarting refuses connections:
# that counts as "not yet".
wait_until = functools.partial(support_wait_until, ignoring=(
    requests.ConnectionError, sushy.exceptions.ConnectionError))


def refuses_connections(url: str) -> bool:
    """True when a TCP connect to the BMC's port is refused (it is down or rebooting)."""
    host, port = url.rsplit("/", 1)[-1].split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except OSError:  # reset while the port was closing: not refused yet
        return False
    return False


def versions(node: dict[str, str]) -> dict[str, str]:
    """FirmwareInventory as {component: Version}, read over Redfish. A staged member
    listed a moment before a host reset activated it is gone (404) when read: skipped."""
    session = http(node)
    base = node["url"]
    members = session.get(f"{base}/redfish/v1/UpdateService/FirmwareInventory",
                          timeout=30).json()["Members"]
    found: dict[str, str] = {}
    for item in members:
        answer = session.get(base + item["@odata.id"], timeout=30)
        if answer.status_code != 404:
            found[item["@odata.id"].rsplit("/", 1)[1]] = answer.json()["Version"]
    return found


@pytest.fixture
def small_bundle_url(bundle_factory: Any, http_bundle_server: Any) -> tuple[str, Any, Path]:
    """(URL, ServedDirectory, path) of the small signed test bundle served with Range."""
    spec = bundle_factory.default_spec()
    for package in spec["packages"]:
        if package["component"] in ("BMC", "BIOS"):
            # Big enough that reading them needlessly would show in bytes_sent.
            package["size"] = 2 << 20
    path = bundle_factory(spec)
    served = http_bundle_server(path.parent)
    return served.url(path.name), served, path
