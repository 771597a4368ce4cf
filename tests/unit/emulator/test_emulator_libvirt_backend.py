"""The libvirt backend on the embedded test driver: real domains, real XML."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import libvirt
import pytest

from emulator.backends import BackendError, BootDevice, FirmwareRecord, PowerState, open_backend
from emulator.backends.libvirt_backend import LibvirtBackend


@pytest.fixture
def backend() -> Iterator[LibvirtBackend]:
    instance = open_backend(prefix=f"unit-{secrets.token_hex(3)}-")
    assert isinstance(instance, LibvirtBackend)
    instance.ensure_host("h1")
    yield instance
    instance.remove_host("h1")
    instance.close()


def _xml(backend: LibvirtBackend) -> ET.Element:
    domain = libvirt.open("test:///default").lookupByName(backend.prefix + "h1")
    return ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def test_power(backend: LibvirtBackend) -> None:
    assert backend.power_state("h1") is PowerState.OFF
    backend.power_on("h1")
    assert backend.power_state("h1") is PowerState.ON
    backend.power_off("h1", graceful=True)
    assert backend.power_state("h1") is PowerState.OFF


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/isos/b.iso",
                                 "https://media.example:8443/a/b.iso?sig=1",
                                 "http://127.0.0.1/plain.iso"])
def test_cdrom_follows_the_image_url(backend: LibvirtBackend, url: str) -> None:
    backend.set_cdrom("h1", url)
    assert backend.cdrom("h1") == url
    disk = next(d for d in _xml(backend).iter("disk") if d.get("device") == "cdrom")
    assert disk.get("type") == "network"
    backend.set_cdrom("h1", None)
    assert backend.cdrom("h1") is None


def test_boot_order_is_redefined(backend: LibvirtBackend) -> None:
    backend.set_boot_order("h1", BootDevice.CD)
    assert [b.get("dev") for b in _xml(backend).iter("boot")][0] == "cdrom"
    backend.set_boot_order("h1", BootDevice.HDD)
    assert [b.get("dev") for b in _xml(backend).iter("boot")][0] == "hd"


def test_a_boot_order_set_again_is_kept_and_one_changed_behind_its_back_is_put_right(
        backend: LibvirtBackend) -> None:
    backend.set_boot_order("h1", BootDevice.CD)
    backend.set_boot_order("h1", BootDevice.CD)  # already so: nothing to define again
    assert [b.get("dev") for b in _xml(backend).iter("boot")] == ["cdrom", "hd", "network"]
    # Someone else reorders the tail (or drops a device): the same call restores it all.
    root = _xml(backend)
    os_element = root.find("os")
    assert os_element is not None
    for boot in os_element.findall("boot"):
        os_element.remove(boot)
    for dev in ("cdrom", "network"):
        ET.SubElement(os_element, "boot", dev=dev)
    libvirt.open("test:///default").defineXML(ET.tostring(root, encoding="unicode"))
    backend.set_boot_order("h1", BootDevice.CD)
    assert [b.get("dev") for b in _xml(backend).iter("boot")] == ["cdrom", "hd", "network"]


def test_firmware_metadata_round_trip_survives_redefinition(backend: LibvirtBackend) -> None:
    assert backend.read_firmware("h1") is None
    record = FirmwareRecord({"BIOS": "1.0", "BMC": "2.0"}, {"BIOS": "1.1"})
    backend.write_firmware("h1", record)
    backend.set_cdrom("h1", "http://127.0.0.1:1/x.iso")  # a redefinition keeps metadata
    assert backend.read_firmware("h1") == record


def test_unknown_host_is_a_backend_error(backend: LibvirtBackend) -> None:
    with pytest.raises(BackendError, match="no libvirt domain"):
        backend.power_state("missing")


def test_unreachable_libvirt_uri_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="cannot open libvirt connection"):
        open_backend("qemu+tcp://127.0.0.1:1/system")
