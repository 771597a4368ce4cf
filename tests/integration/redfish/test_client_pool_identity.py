"""A BMC that stopped answering and answers again is discovered again only when its
identity changed: the service root UUID or the Manager's FirmwareVersion read at
inventory differ from what it answers now (its own firmware update). One that only
restarted keeps its remembered URIs (docs/interop.md, "reshaped-by-bmc-update").
Discovery walks are counted by the emulator (``Bmc.counts["walk"]``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from emulator.bmc import Bmc
from emulator.cluster import EmulatedCluster
from gateway.orchestrator.client_pool import ClientPool
from gateway.redfish import BmcEndpoint, RedfishError
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

    def unanswered() -> bool:
        try:
            client.power_state()
        except RedfishError as exc:
            if exc.status is None and exc.transient:
                pool.drop(endpoint.name, exc)
                return True
        return False

    assert wait_until(unanswered, 30)
    bmc.wait_restarted()


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
