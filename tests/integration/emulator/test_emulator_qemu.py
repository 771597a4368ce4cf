"""The emulator on real QEMU guests instead of libvirt's test driver.

Each module gets a private libvirtd + virtlogd (tests/support/libvirt_daemon.py)
on its own socket; no system libvirt service is used or needed. Without the
packages (scripts/bootstrap.sh installs them) these tests skip, or fail when
FLEETFLASH_REQUIRE_QEMU=1 (as `make test` sets it).
"""

from __future__ import annotations

import logging
import os
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest

from emulator.audit import read_audit_log
from emulator.backends import BootDevice, FirmwareRecord, PowerState, open_backend
from tests.integration.emulator.conftest import http, make_nodes, versions, wait_until
from tests.support.libvirt_daemon import DaemonUnavailable, PrivateLibvirt, private_libvirt


@pytest.fixture(scope="module")
def libvirt_daemon() -> Iterator[PrivateLibvirt]:
    try:
        with private_libvirt() as daemon:
            yield daemon
    except DaemonUnavailable as exc:
        if os.environ.get("FLEETFLASH_REQUIRE_QEMU") == "1":
            pytest.fail(f"real QEMU tests cannot run: {exc}")
        pytest.skip(f"real QEMU tests need libvirt and QEMU: {exc}")


@pytest.fixture
def qemu_uri(libvirt_daemon: PrivateLibvirt) -> str:
    return libvirt_daemon.uri


def _domain_type(uri: str, name: str) -> str:
    connection = libvirt.open(uri)
    try:
        return str(ET.fromstring(connection.lookupByName(name).XMLDesc()).get("type"))
    finally:
        connection.close()


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


def test_kvm_that_cannot_start_falls_back_to_tcg_and_says_so_once(
        qemu_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    """Where QEMU cannot open /dev/kvm (root-only, QEMU runs as another user), a
    guest asked to use KVM must still start: under TCG, with one warning saying why."""
    connection = libvirt.open(qemu_uri)
    kvm_offered = "<domain type='kvm'" in connection.getCapabilities()
    connection.close()
    if kvm_offered:
        pytest.skip("this daemon's QEMU can use KVM here: no failing KVM to fall back from")
    prefix = f"fftest-{secrets.token_hex(3)}-"
    backend = open_backend(qemu_uri, prefix=prefix, try_kvm=True)
    caplog.set_level(logging.WARNING, logger="emulator.backends.libvirt_backend")
    try:
        for host in ("h1", "h2"):
            backend.ensure_host(host)
            backend.power_on(host)
            assert backend.power_state(host) is PowerState.ON
            assert _domain_type(qemu_uri, prefix + host) == "qemu"
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "a KVM guest cannot start" in warnings[0] and "TCG" in warnings[0]
    finally:
        for host in ("h1", "h2"):
            backend.remove_host(host)
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
