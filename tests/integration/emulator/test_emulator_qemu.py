"""The emulator on real QEMU domains instead of libvirt's test driver.

Runs only with FLEETFLASH_SLOW=1 and a reachable libvirt QEMU daemon:
qemu:///system by default, or FLEETFLASH_LIBVIRT_URI (e.g. an unprivileged
session daemon's socket). See docs/emulator.md for starting libvirtd and
virtlogd. Otherwise skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import libvirt
import pytest

from emulator.audit import read_audit_log
from emulator.backends import BackendError, BootDevice, FirmwareRecord, PowerState, open_backend
from tests.integration.emulator.conftest import http, make_nodes, versions, wait_until

pytestmark = pytest.mark.slow
URI = os.environ.get("FLEETFLASH_LIBVIRT_URI", "qemu:///system")


@pytest.fixture
def qemu_uri() -> str:
    if os.environ.get("FLEETFLASH_SLOW") != "1":
        pytest.skip("real QEMU test: set FLEETFLASH_SLOW=1 (needs libvirtd and virtlogd)")
    try:
        open_backend(URI).close()
    except BackendError as exc:
        pytest.skip(f"{URI} not reachable: {exc}")
    return URI


def test_qemu_backend_round_trip(qemu_uri: str) -> None:
    backend = open_backend(qemu_uri, prefix=f"fftest-{secrets.token_hex(3)}-")
    try:
        backend.ensure_host("h1")
        backend.write_firmware("h1", FirmwareRecord({"BIOS": "1.0.0"}, {}))
        backend.set_boot_order("h1", BootDevice.CD)
        backend.power_on("h1")
        assert backend.power_state("h1") is PowerState.ON
        backend.power_off("h1", graceful=False)
        assert backend.power_state("h1") is PowerState.OFF
        assert backend.read_firmware("h1") == FirmwareRecord({"BIOS": "1.0.0"}, {})
    finally:
        backend.remove_host("h1")
        backend.close()


def test_update_cd_boots_on_a_real_qemu_guest(
    qemu_uri: str, cluster_factory: Any, small_bundle_url: Any
) -> None:
    """QEMU itself opens the CD image over HTTP while the emulated host applies it."""
    url, served, _path = small_bundle_url
    cluster = cluster_factory(nodes=make_nodes(1), libvirt_uri=qemu_uri, keep_hosts=False,
                              host_prefix=f"fftest-{secrets.token_hex(3)}-")
    node = cluster.inventory[0]
    session = http(node)
    base = node["url"]
    session.post(base + "/redfish/v1/Managers/1/VirtualMedia/CD/Actions/VirtualMedia.InsertMedia",
                 json={"Image": url})
    session.patch(base + "/redfish/v1/Systems/1", json={"Boot": {
        "BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}})
    session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "On"})
    wait_until(lambda: versions(node) == {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"},
               timeout_s=90)
    bmc = cluster.bmc(node["id"])
    domain = libvirt.open(qemu_uri).lookupByName(bmc.backend.prefix + bmc.host)
    assert domain.isActive()
    assert any(entry.method == "HEAD" for entry in served.requests)  # QEMU curl driver
    events = [r["event"] for r in read_audit_log(cluster.audit_log_path)]
    assert events.count("flash_end") == 3 and "bmc_restart" in events
    session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                 json={"ResetType": "ForceOff"})
