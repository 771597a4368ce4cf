"""OpenStack sushy-tools, as the gateway's Redfish client sees it.

What a new user meets when pointing fleetflash at sushy-tools (docs/interop.md):
several systems behind one service root, an UpdateService that links a
FirmwareInventory it does not serve, a BiosVersion only with the libvirt driver,
and a SimpleUpdate that needs Targets and bumps that BiosVersion.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.redfish import BmcClient, BmcEndpoint, ConfigurationError, RedfishError
from tests.integration.foreign.services import FAKE_SYSTEMS, ForeignService


def endpoint(service: ForeignService, system: str | None = None) -> BmcEndpoint:
    return BmcEndpoint("sushy", service.url, "admin", "password", timeout=10, system=system)


def bios_versions(service: ForeignService) -> list[str | None]:
    return [service.get(uri).get("BiosVersion") for uri in service.members("/redfish/v1/Systems")]


# -- what the service serves ---------------------------------------------------------------

def test_fake_driver_serves_several_systems_behind_one_root(sushy_fake: ForeignService) -> None:
    members = sushy_fake.members("/redfish/v1/Systems")
    assert sorted(m.rsplit("/", 1)[1] for m in members) == sorted(s["uuid"] for s in FAKE_SYSTEMS)
    # One manager per system, as sushy-tools models a hypervisor's domains.
    assert len(sushy_fake.members("/redfish/v1/Managers")) == len(FAKE_SYSTEMS)


@pytest.mark.parametrize("kind", ["sushy_fake", "sushy_libvirt"])
def test_update_service_links_a_firmware_inventory_it_does_not_serve(
        kind: str, request: pytest.FixtureRequest) -> None:
    service: ForeignService = request.getfixturevalue(kind)
    update = service.get("/redfish/v1/UpdateService")
    inventory_uri = update["FirmwareInventory"]["@odata.id"]
    assert service.status_of(inventory_uri) == 404
    assert service.status_of(update["SoftwareInventory"]["@odata.id"]) == 404
    # SimpleUpdate is offered, over HTTP(S) only; no multipart push.
    action = update["Actions"]["#UpdateService.SimpleUpdate"]
    assert action["TransferProtocol@Redfish.AllowableValues"] == ["HTTP", "HTTPS"]
    assert "MultipartHttpPushUri" not in update


def test_what_there_is_to_fall_back_on(sushy_fake: ForeignService,
                                       sushy_libvirt: ForeignService) -> None:
    """The fake driver has no BiosVersion; libvirt's has one; every manager says 1.00;
    no system has a Model (so no bundle can name it)."""
    assert bios_versions(sushy_fake) == [None] * len(FAKE_SYSTEMS)
    assert bios_versions(sushy_libvirt) == ["1.0.0"]
    for service in (sushy_fake, sushy_libvirt):
        for uri in service.members("/redfish/v1/Managers"):
            assert service.get(uri)["FirmwareVersion"] == "1.00"
        for uri in service.members("/redfish/v1/Systems"):
            assert not service.get(uri).get("Model")


def test_gateway_finds_the_virtual_cd(sushy_fake: ForeignService) -> None:
    with BmcClient.connect(endpoint(sushy_fake)) as client:
        state = client.media_state()
    assert state is not None and state.slot == "Cd" and not state.inserted


# -- what the gateway's client makes of it ---------------------------------------------------

def test_inventory_falls_back_to_the_bios_version(sushy_libvirt: ForeignService) -> None:
    with BmcClient.connect(endpoint(sushy_libvirt)) as client:
        inventory = client.inventory()
    assert inventory.installed_versions() == {"BIOS": "1.0.0", "BMC": "1.00"}
    source = inventory.capabilities.version_source
    assert "FirmwareInventory is linked but answers 404" in source, source
    assert "ComputerSystem.BiosVersion ('1.0.0')" in source, source


def test_inventory_falls_back_to_the_manager_version(sushy_fake: ForeignService) -> None:
    """Each fake system, chosen by its id: no BiosVersion, so only its manager's
    FirmwareVersion, and the inventory says the BIOS version was not reported."""
    for system in sushy_fake.members("/redfish/v1/Systems"):
        with BmcClient.connect(endpoint(sushy_fake, system=system.rsplit("/", 1)[1])) as client:
            inventory = client.inventory()
        assert inventory.installed_versions() == {"BMC": "1.00"}
        source = inventory.capabilities.version_source
        assert "BiosVersion (not reported)" in source, source
        assert "Manager.FirmwareVersion ('1.00')" in source, source


def test_several_systems_and_none_chosen_is_refused(sushy_fake: ForeignService) -> None:
    with BmcClient.connect(endpoint(sushy_fake)) as client, \
            pytest.raises(ConfigurationError, match=f"serves {len(FAKE_SYSTEMS)} systems"):
        client.inventory()


def test_simple_update_without_targets_is_refused(sushy_libvirt: ForeignService) -> None:
    """sushy-tools refuses a SimpleUpdate that names no Targets (as multi-system BMCs
    do); the refusal reaches the caller as a RedfishError, and nothing changes."""
    with BmcClient.connect(endpoint(sushy_libvirt)) as client, \
            pytest.raises(RedfishError, match="Targets"):
        client.simple_update("http://127.0.0.1:9/bios.bin")
    assert bios_versions(sushy_libvirt) == ["1.0.0"]


def test_simple_update_with_targets_bumps_the_bios_version(
        fresh_service: Callable[[str], ForeignService]) -> None:
    """sushy-tools never downloads the image: it raises BiosVersion's minor number."""
    service = fresh_service("sushy-libvirt")
    system = service.members("/redfish/v1/Systems")[0]
    with BmcClient.connect(endpoint(service)) as client:
        client.simple_update("http://127.0.0.1:9/bios.bin", targets=[system])
    assert bios_versions(service) == ["1.1.0"]
