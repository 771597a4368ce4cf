"""BMCs unlike the emulator's default: no FirmwareInventory, several systems behind a root."""

from __future__ import annotations

import pytest

from emulator.cluster import EmulatedCluster
from gateway.cluster_config import expand_systems
from gateway.domain import Cluster, NodeSpec, RedundancyGroup
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.orchestrator.settings import ClusterSettings
from gateway.redfish import BmcClient, BmcEndpoint, ConfigurationError, RedfishError
from gateway.redfish.client import list_systems
from gateway.redfish.endpoint import ALL_SYSTEMS

from .conftest import STARTING_VERSIONS, endpoint_of


def test_without_firmware_inventory_versions_come_from_system_and_manager(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    emulated.faults.set(node["id"], "no_firmware_inventory")
    with BmcClient.connect(endpoint) as client:
        inventory = client.inventory()
    # No NIC: only BIOS and BMC have a home outside FirmwareInventory.
    assert inventory.installed_versions() == {"BIOS": STARTING_VERSIONS["BIOS"],
                                              "BMC": STARTING_VERSIONS["BMC"]}
    source = inventory.capabilities.version_source
    assert not inventory.capabilities.firmware_inventory
    assert "BIOS from ComputerSystem.BiosVersion ('1.0.0')" in source
    assert "BMC from Manager.FirmwareVersion ('1.0.0')" in source
    # Delivery capabilities are still read from the UpdateService.
    assert inventory.capabilities.simple_update and inventory.capabilities.virtual_media_cd


def test_a_linked_firmware_inventory_that_answers_404_counts_as_none(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    emulated.faults.set(node["id"], "no_firmware_inventory", link="dangling")  # sushy-tools
    with FleetBmcClient.connect(endpoint, {}) as client:
        inventory = client.inventory()
        assert inventory.installed_versions() == {"BIOS": "1.0.0", "BMC": "1.0.0"}
        assert inventory.capabilities.version_source.startswith(
            "fallback (FirmwareInventory is linked but answers 404): ")
        assert client.component_versions() == {"BIOS": "1.0.0", "BMC": "1.0.0"}


def test_versions_are_read_back_from_the_source_the_inventory_used(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    emulated.faults.set(node["id"], "no_firmware_inventory")
    with FleetBmcClient.connect(endpoint) as client:
        client.inventory()
        emulated.bmc(node["id"]).firmware.install("BIOS", "1.5.0")
        assert client.component_versions() == {"BIOS": "1.5.0", "BMC": "1.0.0"}
        # The BMC now offers FirmwareInventory again: still read where the inventory read.
        emulated.faults.clear(node["id"], "no_firmware_inventory")
        assert client.component_versions() == {"BIOS": "1.5.0", "BMC": "1.0.0"}


def test_a_client_of_a_restarted_gateway_reads_the_fallback_too(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    emulated.faults.set(node["id"], "no_firmware_inventory")
    known: dict[str, object] = {}
    with FleetBmcClient.connect(endpoint, known) as client:  # nothing remembered: a new process
        assert client.component_versions() == {"BIOS": "1.0.0", "BMC": "1.0.0"}
        assert known["versions_from"] == "fallback"


def test_inventory_source_vanishing_is_an_error_not_another_source(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    with FleetBmcClient.connect(endpoint, {}) as client:
        assert client.inventory().capabilities.firmware_inventory
        client.known.pop("members")
        client._members = None
        emulated.faults.set(node["id"], "no_firmware_inventory")
        with pytest.raises(RedfishError, match="no longer offers FirmwareInventory"):
            client.component_versions()


def test_several_systems_and_none_chosen_is_refused_naming_them(
        emulated: EmulatedCluster, node: dict[str, str], endpoint: BmcEndpoint) -> None:
    emulated.faults.set(node["id"], "extra_systems", systems=2)
    with BmcClient.connect(endpoint) as client, pytest.raises(ConfigurationError) as caught:
        client.inventory()
    message = str(caught.value)
    assert "serves 3 systems" in message
    assert "/redfish/v1/Systems/1, /redfish/v1/Systems/2, /redfish/v1/Systems/3" in message
    assert 'system = "<id or path>"' in message


@pytest.mark.parametrize("how", ["id", "path", "url"])
def test_the_chosen_system_is_the_one_managed(
        emulated: EmulatedCluster, node: dict[str, str], how: str) -> None:
    emulated.faults.set(node["id"], "extra_systems", systems=2)
    if how == "url":
        endpoint = BmcEndpoint(node["id"], node["url"] + "/redfish/v1/Systems/3",
                               node["username"], node["password"], timeout=10.0)
    else:
        endpoint = endpoint_of(node, timeout=10.0,
                               system="3" if how == "id" else "/redfish/v1/Systems/3")
    assert endpoint.system in ("3", "/redfish/v1/Systems/3")
    with BmcClient.connect(endpoint) as client:
        inventory = client.inventory()
        assert client.boot_override().target == "None"
    assert (inventory.system_id, inventory.serial) == ("3", f"{node['serial']}-3")


def test_a_system_the_root_does_not_serve_is_named(
        emulated: EmulatedCluster, node: dict[str, str]) -> None:
    emulated.faults.set(node["id"], "extra_systems", systems=1)
    endpoint = endpoint_of(node, timeout=10.0, system="7")
    with BmcClient.connect(endpoint) as client, pytest.raises(ConfigurationError) as caught:
        client.inventory()
    assert "serves no system '7'" in str(caught.value)
    assert "/redfish/v1/Systems/2" in str(caught.value)


def test_a_single_system_root_needs_no_choice(node: dict[str, str],
                                              endpoint: BmcEndpoint) -> None:
    with BmcClient.connect(endpoint) as client:
        assert client.inventory().system_id == "1"


def test_systems_all_expands_from_what_the_root_serves(
        emulated: EmulatedCluster, node: dict[str, str]) -> None:
    emulated.faults.set(node["id"], "extra_systems", systems=2)
    entry = endpoint_of(node, timeout=10.0, system=ALL_SYSTEMS)
    settings = ClusterSettings(
        Cluster("c", (RedundancyGroup("g", 1),), (NodeSpec(node["id"], "g"),)),
        {node["id"]: entry})
    (expanded,) = expand_systems((settings,), list_systems)
    assert sorted(expanded.endpoints) == [f"{node['id']}-{i}" for i in (1, 2, 3)]
    with BmcClient.connect(expanded.endpoints[f"{node['id']}-2"]) as client:
        assert client.inventory().serial == f"{node['serial']}-2"
