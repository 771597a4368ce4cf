"""DMTF's public mockups on DMTF's Redfish-Mockup-Server, as the gateway's client sees them.

``public-rackmount1`` is one Contoso 3500 server whose FirmwareInventory speaks vendor
formats (``P79 v1.45``, ``1.45.455b66-rev4``) and whose virtual CD already holds an
image someone else inserted. ``public-bladed`` is four SX1000 blades behind one service
root, with no UpdateService at all (docs/interop.md).
"""

from __future__ import annotations

import pytest

from gateway.redfish import BmcClient, BmcEndpoint, ConfigurationError
from tests.integration.foreign.services import ForeignService

RACKMOUNT_FIRMWARE = {"BIOS": "P79 v1.45", "BMC": "1.45.455b66-rev4", "SS": "2.50"}
BLADE_BIOS = "P86 v1.58 (10/15/2015)"


def endpoint(service: ForeignService, system: str | None = None) -> BmcEndpoint:
    return BmcEndpoint("dmtf", service.url, "admin", "password", timeout=10, system=system)


def test_rackmount_inventory_as_the_gateway_reads_it(rackmount: ForeignService) -> None:
    with BmcClient.connect(endpoint(rackmount)) as client:
        inventory = client.inventory()
    assert (inventory.model, inventory.manufacturer, inventory.serial) == \
        ("3500", "Contoso", "437XR1138R2")
    assert inventory.power_state.value == "On"
    assert inventory.installed_versions() == RACKMOUNT_FIRMWARE
    capabilities = inventory.capabilities
    assert capabilities.simple_update and capabilities.virtual_media_cd
    assert not capabilities.multipart_push and capabilities.http_push  # HttpPushUri only
    assert capabilities.apply_times == ("Immediate", "OnReset", "AtMaintenanceWindowStart",
                                        "InMaintenanceWindowOnReset")


def test_rackmount_reports_the_same_versions_in_three_places(rackmount: ForeignService) -> None:
    """The FirmwareInventory agrees with BiosVersion and Manager.FirmwareVersion, but
    BiosVersion carries the release date as well: a fallback must not compare the two
    spellings as if they were one format."""
    system = rackmount.get(rackmount.members("/redfish/v1/Systems")[0])
    manager = rackmount.get(rackmount.members("/redfish/v1/Managers")[0])
    assert system["BiosVersion"] == "P79 v1.45 (12/06/2017)"
    assert manager["FirmwareVersion"] == RACKMOUNT_FIRMWARE["BMC"]
    bios = rackmount.get("/redfish/v1/UpdateService/FirmwareInventory/BIOS")
    assert (bios["Version"], bios["LowestSupportedVersion"]) == ("P79 v1.45", "P79 v1.10")


def test_rackmount_cd_holds_an_image_the_gateway_did_not_insert(
        rackmount: ForeignService) -> None:
    """An operator's media: whatever a campaign does, it is not the gateway's to eject."""
    with BmcClient.connect(endpoint(rackmount)) as client:
        state = client.media_state()
    assert state is not None and state.inserted
    assert state.image == "redfish.dmtf.org/freeImages/freeOS.1.1.iso"


def test_bladed_serves_four_systems_and_no_update_service(bladed: ForeignService) -> None:
    root = bladed.get("/redfish/v1/")
    assert "UpdateService" not in root
    systems = [bladed.get(uri) for uri in bladed.members("/redfish/v1/Systems")]
    assert [(s["Id"], s["Model"], s["BiosVersion"]) for s in systems] == [
        (f"529QB945{i}R6", "SX1000", BLADE_BIOS) for i in range(4)]
    # One manager per blade, and one for the enclosure.
    assert len(bladed.members("/redfish/v1/Managers")) == 5


def test_bladed_blade_inventory_falls_back_to_the_bios_version(bladed: ForeignService) -> None:
    """No UpdateService: each blade's versions are its BiosVersion, in the vendor's
    spelling (kept as it is), and its manager's FirmwareVersion; the inventory says so."""
    for blade in bladed.members("/redfish/v1/Systems"):
        with BmcClient.connect(endpoint(bladed, system=blade.rsplit("/", 1)[1])) as client:
            inventory = client.inventory()
        assert (inventory.model, inventory.serial) == ("SX1000", blade.rsplit("/", 1)[1])
        assert inventory.installed_versions()["BIOS"] == BLADE_BIOS
        source = inventory.capabilities.version_source
        assert "no UpdateService" in source and "ComputerSystem.BiosVersion" in source, source
        # Nothing to update with: no SimpleUpdate, no multipart push, no virtual CD.
        capabilities = inventory.capabilities
        assert not (capabilities.simple_update or capabilities.multipart_push
                    or capabilities.virtual_media_cd)


def test_bladed_root_without_a_chosen_system_is_refused_listing_them(
        bladed: ForeignService) -> None:
    """Four blades behind one root and no ``system``: the gateway never takes the first."""
    with BmcClient.connect(endpoint(bladed)) as client, \
            pytest.raises(ConfigurationError, match="serves 4 systems") as refused:
        client.inventory()
    for blade in bladed.members("/redfish/v1/Systems"):
        assert blade in str(refused.value)
