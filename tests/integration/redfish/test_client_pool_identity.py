"""A BMC that stopped answering and answers again is discovered again only when its
identity changed: the service root UUID or the Manager's FirmwareVersion read at
inventory differ from what it answers now (its own firmware update). One that only
restarted keeps its remembered URIs (docs/interop.md, "reshaped-by-bmc-update").
Discovery walks are counted by the emulator (``Bmc.counts["walk"]``)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest

from emulator.bmc import Bmc
from emulator.cluster import EmulatedCluster
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.orchestrator.client_pool import ClientPool
from gateway.redfish import BmcEndpoint, BmcUnreachableError, RedfishError
from tests.support.waiting import wait_until


@pytest.fixture
def pool() -> Iterator[ClientPool]:
    clients = ClientPool()
    yield clients
    clients.close_all()


def _silence(pool: ClientPool, endpoint: BmcEndpoint, bmc: Bmc,
             on_back: Callable[[], None] | None = None) -> None:
    """Restart the BMC; the node's client meets the silence and is dropped for it, as a
    step's would be; return once the BMC answers again."""
    client = pool.get(endpoint)
    bmc.restart_bmc("test restart", on_back=on_back)
    _dropped_once_silent(pool, endpoint, client)
    _wait_back(endpoint, bmc)


def _dropped_once_silent(pool: ClientPool, endpoint: BmcEndpoint,
                         client: FleetBmcClient) -> None:
    """Until the client's look finds no answer; the pool drops it then, as a step's
    error handling would."""
    def unanswered() -> bool:
        try:
            client.power_state()
        except RedfishError as exc:
            if exc.status is None and exc.transient:
                pool.drop(endpoint.name, exc)
                return True
        return False

    assert wait_until(unanswered, 30)


def _wait_back(endpoint: BmcEndpoint, bmc: Bmc) -> None:
    """Until the restarted BMC's port takes connections again (it may reopen a moment
    after the restart has ended)."""
    bmc.wait_restarted()
    address = urlsplit(endpoint.url)

    def port_open() -> bool:
        try:
            socket.create_connection((address.hostname, address.port or 80), 5).close()
        except OSError:
            return False
        return True

    assert wait_until(port_open, 30)


def _walks_after_silence(pool: ClientPool, endpoint: BmcEndpoint, bmc: Bmc,
                         on_back: Callable[[], None] | None = None) -> int:
    pool.get(endpoint).inventory()  # the inventory: one walk, its identity read
    _silence(pool, endpoint, bmc, on_back)
    before = bmc.counts["walk"]
    pool.get(endpoint).inventory()
    return bmc.counts["walk"] - before


def test_a_bmc_that_only_stopped_answering_keeps_its_uris(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint,
        pool: ClientPool) -> None:
    bmc = emulated.bmc(node["id"])
    assert _walks_after_silence(pool, endpoint, bmc) == 0
    assert not pool.capabilities_stale(endpoint.name)


def test_a_bmc_back_with_new_firmware_is_discovered_again(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint,
        pool: ClientPool) -> None:
    bmc = emulated.bmc(node["id"])
    walks = _walks_after_silence(pool, endpoint, bmc,
                                 lambda: bmc.activate_bmc_firmware("1.9.0", None))
    assert walks == 1
    assert pool.capabilities_stale(endpoint.name)  # the next inventory reads them afresh
    # Once discovered again, the new identity is the one compared at the next silence.
    _silence(pool, endpoint, bmc)
    before = bmc.counts["walk"]
    pool.get(endpoint).power_state()
    assert bmc.counts["walk"] == before


def test_a_bmc_still_down_is_refused_and_still_compared_once_back(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint,
        pool: ClientPool) -> None:
    """Looks while its port is closed fail as a BMC that does not answer (transient, no
    HTTP status: the step retries); the silence is not forgotten for them, so the BMC
    that comes back with new firmware is still discovered again."""
    bmc = emulated.bmc(node["id"])
    pool.get(endpoint).inventory()
    looked = threading.Event()

    def back() -> None:  # runs while the port is still closed
        looked.wait(30)
        bmc.activate_bmc_firmware("1.9.0", None)

    client = pool.get(endpoint)
    bmc.restart_bmc("test restart", on_back=back)
    try:
        _dropped_once_silent(pool, endpoint, client)
        for _ in range(3):
            with pytest.raises(BmcUnreachableError) as refused:
                pool.get(endpoint)
            assert refused.value.status is None and refused.value.transient
            assert endpoint.name in str(refused.value)
    finally:
        looked.set()
    _wait_back(endpoint, bmc)
    before = bmc.counts["walk"]
    pool.get(endpoint).inventory()
    assert bmc.counts["walk"] - before == 1
    assert pool.capabilities_stale(endpoint.name)
