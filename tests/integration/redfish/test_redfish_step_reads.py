"""A node step reads its system once: a second look in the same step (health, then the
boot override or a reset) rides on the first until the client changes the system, and
reads outside a step (health refresh, inventory) and in the next step are fresh."""

from __future__ import annotations

from typing import Any

import requests

from emulator.cluster import EmulatedCluster
from gateway.domain import PowerState
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.redfish import BmcEndpoint


def _system_reads(client: FleetBmcClient) -> list[str]:
    """GETs of the ComputerSystem the BMC answered, as they happen (a response hook)."""
    seen: list[str] = []
    system = client.known["system"]

    def hook(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if response.request.method == "GET" and response.request.path_url == system:
            seen.append(system)

    client._conn._session.hooks["response"].append(hook)
    return seen


def test_a_step_reads_its_system_once_until_it_changes_it(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    with FleetBmcClient.connect(endpoint, {}) as client:
        client.health()  # the system's URI is now known
        reads = _system_reads(client)
        client.step_begins()
        client.health()
        assert not client.boot_override().pending
        assert len(reads) == 1  # the boot override came with the health read
        client.set_boot_once_cd()  # (sushy reads the system for its ETag first)
        patched = len(reads)
        override = client.boot_override()  # changed by the client: read again
        assert (override.target, override.enabled) == ("Cd", "Once")
        assert len(reads) == patched + 1
        client.clear_boot_override()
        client.step_ends()
        # Outside a step every read is fresh, and the next step reads afresh.
        cleared = len(reads)
        assert not client.boot_override().pending
        client.health()
        assert len(reads) == cleared + 2
        client.step_begins()
        client.health()
        client.power_state()
        client.step_ends()
        assert len(reads) == cleared + 3


def test_a_change_by_someone_else_is_seen_by_the_next_step(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    bmc = emulated.bmc(node["id"])
    bmc.backend.power_on(bmc.host)
    with FleetBmcClient.connect(endpoint, {}) as client:
        client.step_begins()
        assert client.power_state() is PowerState.ON
        client.step_ends()
        bmc.backend.power_off(bmc.host, graceful=False)  # an operator, between two steps
        client.step_begins()
        assert client.power_state() is PowerState.OFF
        client.step_ends()
