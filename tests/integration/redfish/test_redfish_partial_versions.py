"""Reading the versions of some components only (MONITOR's later looks): one GET per
component wanted, and every member read again when one moved or changed."""

from __future__ import annotations

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.quirks import parse_quirks
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.redfish import BmcEndpoint
from tests.conftest import TestKeys

from .conftest import STARTING_VERSIONS, TEST_MODEL, endpoint_of


def test_the_components_still_behind_are_read_alone(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    bmc = emulated.bmc(node["id"])
    with FleetBmcClient.connect(endpoint, {}) as client:
        before = bmc.counts["inventory_member"]
        assert client.component_versions() == STARTING_VERSIONS
        assert bmc.counts["inventory_member"] - before == 3  # one GET per member
        bmc.firmware.install("BIOS", "1.5.0")
        before = bmc.counts["inventory_member"]
        assert client.component_versions(only={"BIOS"}) == {"BIOS": "1.5.0"}
        assert bmc.counts["inventory_member"] - before == 1


def test_a_member_whose_id_changed_makes_every_member_read_again(test_keys: TestKeys) -> None:
    spec = NodeSpec(model=TEST_MODEL, quirks=parse_quirks(["inventory-ids-embed-version"]))
    with EmulatedCluster(nodes=[spec], trusted_keys=[test_keys.public]) as emulated:
        (node,) = emulated.inventory
        bmc = emulated.bmc(node["id"])
        with FleetBmcClient.connect(endpoint_of(node, timeout=10.0), {}) as client:
            assert client.component_versions() == STARTING_VERSIONS
            bmc.firmware.install("BIOS", "1.5.0")  # its member's Id names the version
            assert client.component_versions(only={"BIOS"}) == {
                **STARTING_VERSIONS, "BIOS": "1.5.0"}
