"""Host state lives in libvirt: power, boot order, CD-ROM and firmware metadata."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import libvirt
import pytest

from emulator.audit import read_audit_log
from emulator.backends.libvirt_backend import FIRMWARE_NS
from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from tests.integration.emulator.conftest import http, sushy_client, versions, wait_until


def _domain(cluster: Any, bmc_id: str) -> libvirt.virDomain:
    bmc = cluster.bmc(bmc_id)
    return libvirt.open("test:///default").lookupByName(bmc.backend.prefix + bmc.host)


def test_power_and_boot_override_reach_the_libvirt_domain(
    cluster: Any, node: dict[str, str]
) -> None:
    import sushy

    system = sushy_client(node).get_system("/redfish/v1/Systems/1")
    system.set_system_boot_options(sushy.BootSource.CD,
                                   enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS)
    system.reset_system(sushy.ResetType.ON)
    wait_until(lambda: _domain(cluster, node["id"]).isActive())
    root = ET.fromstring(_domain(cluster, node["id"]).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert [b.get("dev") for b in root.iter("boot")][0] == "cdrom"
    system.reset_system(sushy.ResetType.FORCE_OFF)
    assert not _domain(cluster, node["id"]).isActive()
    system.refresh()
    assert system.power_state == sushy.PowerState.OFF


def test_firmware_versions_survive_a_restart_of_the_emulator(
    test_keys: Any, small_bundle_url: Any, tmp_path: Any
) -> None:
    """With a backend that keeps domains, a new emulator reads versions from metadata."""
    prefix = f"persist-{tmp_path.name[-8:]}-"
    settings: dict[str, Any] = {
        "nodes": [NodeSpec(model="FF-TEST", firmware={"BMC": "1.0.0", "BIOS": "1.0.0",
                                                      "NIC": "7.0"})],
        "trusted_keys": [test_keys.public], "flash_seconds": 0.1, "host_prefix": prefix,
        # A qemu:///system lab keeps its domains; do the same with the test driver.
        "keep_hosts": True,
    }
    url, _served, _path = small_bundle_url
    first = EmulatedCluster(**settings).start()
    try:
        node = first.inventory[0]
        session = http(node)
        response = session.post(
            node["url"] + "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
            json={"ImageURI": url, "Targets": ["/redfish/v1/UpdateService/FirmwareInventory/NIC"]})
        monitor = response.headers["Location"]
        wait_until(lambda: session.get(node["url"] + monitor).status_code == 200)
        domain = libvirt.open("test:///default").lookupByName(prefix + "bmc-0000")
        metadata = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, FIRMWARE_NS)
        assert 'name="NIC"' in metadata and 'version="7.1"' in metadata
    finally:
        first.stop()
    second = EmulatedCluster(**settings).start()
    try:
        assert versions(second.inventory[0])["NIC"] == "7.1"
    finally:
        second.stop()
        libvirt.open("test:///default").lookupByName(prefix + "bmc-0000").undefine()


@pytest.mark.parametrize(
    ("start_on", "reset_type", "expected"),
    [
        (False, "On", "On"),
        (True, "ForceOff", "Off"),
        (True, "GracefulShutdown", "Off"),
        (True, "GracefulRestart", "On"),
        (True, "ForceRestart", "On"),
        (True, "PowerCycle", "On"),
        (False, "PowerCycle", "On"),
    ],
)
def test_every_advertised_reset_type(cluster: Any, node: dict[str, str], start_on: bool,
                                     reset_type: str, expected: str) -> None:
    import sushy

    system = sushy_client(node).get_system("/redfish/v1/Systems/1")
    advertised = {value.value for value in system.get_allowed_reset_system_values()}
    assert reset_type in advertised
    if start_on:
        system.reset_system(sushy.ResetType.ON)
        wait_until(lambda: _domain(cluster, node["id"]).isActive())
    system.reset_system(sushy.ResetType(reset_type))

    def settled() -> bool:
        system.refresh()
        return bool(system.power_state == sushy.PowerState(expected))

    wait_until(settled)
    assert bool(_domain(cluster, node["id"]).isActive()) is (expected == "On")
    power = [r["state"] for r in read_audit_log(cluster.audit_log_path) if r["event"] == "power"]
    assert power[-1] == expected
