"""An emulated cluster for the Redfish adapter's integration tests.

One cluster per module (starting BMCs costs a little); each test takes its
own node, so no test sees another's firmware changes, and faults are
cleared after every test.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from gateway.redfish import BmcClient, BmcEndpoint, RedfishError
from tests.conftest import BundleFactory, ServedDirectory, TestKeys
from tests.support.garbage_proxy import GarbageProxy
from tests.support.waiting import wait_until
from tests.support.wsgi import serving

NODES = 12
TEST_MODEL = "FF-TEST"  # the model of tests/conftest.py's small bundle
SMALL_BUNDLE_VERSIONS = {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"}
STARTING_VERSIONS = {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0.0"}
T = TypeVar("T")


class NodePool:
    """Hands each test a node no other test has touched."""

    def __init__(self, cluster: EmulatedCluster) -> None:
        self._free = list(cluster.inventory)
        self._lock = threading.Lock()

    def take(self) -> dict[str, str]:
        with self._lock:
            if not self._free:
                raise RuntimeError(f"all {NODES} emulated nodes are used: raise NODES")
            return self._free.pop(0)


@pytest.fixture(scope="module")
def emulated(test_keys: TestKeys) -> Iterator[EmulatedCluster]:
    nodes = [NodeSpec(model=TEST_MODEL) for _ in range(NODES)]
    with EmulatedCluster(nodes=nodes, trusted_keys=[test_keys.public], flash_seconds=0.1,
                         reset_seconds=0.1, bmc_restart_seconds=0.3) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def node_pool(emulated: EmulatedCluster) -> NodePool:
    return NodePool(emulated)


def endpoint_of(node: dict[str, str], **kwargs: Any) -> BmcEndpoint:
    return BmcEndpoint(node["id"], node["url"], node["username"], node["password"], **kwargs)


@pytest.fixture(scope="module")
def proxied(node_pool: NodePool) -> Iterator[tuple[GarbageProxy, BmcEndpoint]]:
    """A node of its own behind a garbage proxy (tests/support/garbage_proxy.py), which
    answers the BMC's answers until a test sets ``proxy.garbage``."""
    node = node_pool.take()
    proxy = GarbageProxy(node["url"])
    with serving(proxy) as url:
        yield proxy, BmcEndpoint(node["id"], url, node["username"], node["password"])


@pytest.fixture
def node(emulated: EmulatedCluster, node_pool: NodePool) -> Iterator[dict[str, str]]:
    taken = node_pool.take()
    yield taken
    emulated.faults.clear(taken["id"])


@pytest.fixture
def endpoint(node: dict[str, str]) -> BmcEndpoint:
    return endpoint_of(node, timeout=10.0)


@pytest.fixture
def client(endpoint: BmcEndpoint) -> Iterator[BmcClient]:
    with BmcClient.connect(endpoint) as connected:
        yield connected


@pytest.fixture
def bundle_url(bundle_factory: BundleFactory,
               http_bundle_server: Callable[[Path], ServedDirectory]) -> tuple[Path, str]:
    """The small signed bundle (BMC, BIOS, NIC for FF-TEST) and its URL on a loopback server."""
    path = bundle_factory()
    served = http_bundle_server(path.parent)
    return path, served.url(path.name)


def eventually(read: Callable[[], T], done: Callable[[T], bool], *,
               timeout: float = 60.0, interval: float = 0.1) -> T:
    """Call ``read`` until ``done`` holds, riding out transient BMC errors (a BMC
    restarting refuses connections), with the one wait of tests.support.waiting."""
    last: list[T] = []

    def reached() -> bool:
        try:
            value = read()
        except RedfishError as exc:
            if not exc.transient:
                raise
            return False
        last[:] = [value]
        return done(value)

    wait_until(reached, timeout, interval_s=interval, describe=lambda: f"last: {last!r}")
    return last[0]


def versions_of(endpoint: BmcEndpoint) -> dict[str, str]:
    """Installed versions through a fresh connection (the BMC may have restarted)."""
    with BmcClient.connect(endpoint) as fresh:
        return fresh.firmware_versions()
