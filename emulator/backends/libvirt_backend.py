"""Host backend on libvirt: one domain per BMC.

``test:///default`` (the default) is libvirt's embedded test driver: no daemon,
state lives in this process. ``qemu:///system`` drives real QEMU domains for
labs. The test driver has no device hot-plug, so the CD-ROM and boot order
are changed by redefining the domain XML, which takes effect at the next start
(a BMC's virtual media is likewise seen by the host at its next boot). With a
driver that can, the CD-ROM change is also applied to the running domain.

Firmware versions live in the domain's <metadata> under our own namespace,
so with a persistent driver they survive an emulator restart.

Acceleration: a QEMU daemon's capabilities can list KVM although QEMU, running
as another user, cannot open /dev/kvm. So KVM is only used after a paused probe
guest has started with it; otherwise guests run under TCG (software emulation)
and the backend logs why, once.

A QEMU guest's first serial port (COM1) writes to QEMU's stdout, which libvirt
keeps in the domain's log (docs/emulator.md, "Real QEMU guests").
"""

from __future__ import annotations

import logging
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urlsplit

import libvirt

from emulator.backends.base import BootDevice, FirmwareRecord, HostBackend, PowerState
from emulator.errors import BackendError

LOG = logging.getLogger(__name__)

FIRMWARE_NS = "urn:fleetflash:emulator:firmware:1"
FIRMWARE_NS_PREFIX = "ffw"

_BOOT_DEV = {BootDevice.HDD: "hd", BootDevice.CD: "cdrom", BootDevice.PXE: "network"}

# libvirt prints every error to stderr by default; we translate them instead.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def _domain_xml(name: str, domain_type: str, memory_mib: int, vcpus: int) -> str:
    # A minimal x86 guest with an empty IDE CD-ROM; IDE works on every QEMU
    # machine type and in the test driver. QEMU guests get COM1 on stdio, which
    # libvirt's log handler (virtlogd) appends to the domain's log file.
    serial = "" if domain_type == "test" else """
    <serial type='stdio'><target port='0'/></serial>"""
    return f"""<domain type='{domain_type}'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
  <devices>
    <disk type='file' device='cdrom'>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>{serial}
  </devices>
</domain>"""


class LibvirtBackend(HostBackend):
    """Hosts as libvirt domains named ``<prefix><name>``.

    uri: any libvirt URI; test:///default needs nothing installed, qemu:///system
    needs libvirtd and virtlogd running (see docs/emulator.md).
    try_kvm: None (default) tries KVM when the daemon lists it; True tries it even
    when not listed. Either way KVM is used only if a probe guest starts with it.
    """

    def __init__(
        self, uri: str = "test:///default", *, prefix: str = "fleetflash-",
        try_kvm: bool | None = None,
    ) -> None:
        self.uri = uri
        self.prefix = prefix
        try:
            self._conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise BackendError(f"cannot open libvirt connection {uri}: {exc}") from exc
        driver = self._conn.getType().lower()
        self._try_kvm = try_kvm
        # "test", or for QEMU None until the first guest needs it (see _guest_type).
        self._domain_type: str | None = "test" if driver == "test" else None
        self._live_update = driver != "test"
        # Redefining a domain is read-modify-write of its XML: one writer at a time.
        self._xml_lock = threading.Lock()
        self._type_lock = threading.Lock()
        self._closed = False

    def _guest_type(self) -> str:
        with self._type_lock:
            if self._domain_type is None:
                self._domain_type = self._probe_accelerator()
            return self._domain_type

    def _probe_accelerator(self) -> str:
        try_kvm = self._try_kvm
        if try_kvm is None:
            try:
                try_kvm = "<domain type='kvm'" in self._conn.getCapabilities()
            except libvirt.libvirtError:
                try_kvm = False
        if not try_kvm:
            LOG.info("libvirt %s: no KVM offered; QEMU guests run under TCG", self.uri)
            return "qemu"
        # A transient guest started paused: QEMU opens /dev/kvm and initialises the
        # accelerator before it would run a single instruction.
        name = f"{self.prefix}kvm-probe-{secrets.token_hex(4)}"
        try:
            probe = self._conn.createXML(
                _domain_xml(name, "kvm", 16, 1), libvirt.VIR_DOMAIN_START_PAUSED
            )
        except libvirt.libvirtError as exc:
            LOG.warning(
                "libvirt %s: a KVM guest cannot start (%s); QEMU guests run under TCG "
                "(software emulation, slower) instead", self.uri, exc,
            )
            return "qemu"
        try:
            probe.destroy()
        except libvirt.libvirtError as exc:
            LOG.warning("libvirt %s: cannot stop KVM probe guest %s: %s", self.uri, name, exc)
        LOG.info("libvirt %s: QEMU guests use KVM", self.uri)
        return "kvm"

    def _domain(self, name: str) -> libvirt.virDomain:
        if self._closed:
            raise BackendError(f"host {name}: the emulator is stopping")
        try:
            return self._conn.lookupByName(self.prefix + name)
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: no libvirt domain {self.prefix + name}") from exc

    # life cycle ---------------------------------------------------------------
    def ensure_host(self, name: str, *, memory_mib: int = 64, vcpus: int = 1) -> str:
        try:
            try:
                domain = self._conn.lookupByName(self.prefix + name)
            except libvirt.libvirtError:
                domain = self._conn.defineXML(
                    _domain_xml(self.prefix + name, self._guest_type(), memory_mib, vcpus)
                )
            return str(domain.UUIDString())
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot define domain: {exc}") from exc

    def remove_host(self, name: str) -> None:
        try:
            domain = self._conn.lookupByName(self.prefix + name)
        except libvirt.libvirtError:
            return
        try:
            if domain.isActive():
                domain.destroy()
            domain.undefine()
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot remove domain: {exc}") from exc

    def close(self) -> None:
        """Forget the connection; libvirt closes it when the last user lets go.

        Deliberately no explicit virConnectClose: a flash timer or a request
        thread can still be inside a libvirt call for a moment after its
        cluster stops, and a call on a closed connection crashes the whole
        process (seen as a segfault in the suite), not just that thread.
        """
        self._closed = True

    # power ----------------------------------------------------------------------
    def power_state(self, name: str) -> PowerState:
        try:
            return PowerState.ON if self._domain(name).isActive() else PowerState.OFF
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot read power state: {exc}") from exc

    def power_on(self, name: str) -> None:
        domain = self._domain(name)
        try:
            if domain.isActive():
                return
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot read power state: {exc}") from exc
        try:
            if self._live_update and self._guest_type() == "qemu" and ET.fromstring(
                domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            ).get("type") == "kvm":
                # Kept from an earlier lab, but KVM does not work here (any more).
                self._redefine(name, _set_type_qemu)
            domain.create()
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot start: {exc}") from exc

    def power_off(self, name: str, *, graceful: bool) -> None:
        domain = self._domain(name)
        try:
            if not domain.isActive():
                return
            if graceful and not self._live_update:
                domain.shutdown()  # the test driver shuts down at once
            else:
                # A real guest may ignore ACPI; the BMC's GracefulShutdown
                # contract is "off when we return", so force it.
                domain.destroy()
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot stop: {exc}") from exc

    # domain XML edits -------------------------------------------------------------
    def _redefine(self, name: str, edit: Callable[[ET.Element], bool | None]) -> None:
        """Apply ``edit`` to the domain's persistent XML; an edit that returns False
        changed nothing, and the domain is not defined again (a redefinition is
        libvirt's most expensive call here, and a client sets the same boot order
        over and over)."""
        with self._xml_lock:
            domain = self._domain(name)
            try:
                root = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
                if edit(root) is False:
                    return
                self._conn.defineXML(ET.tostring(root, encoding="unicode"))
            except libvirt.libvirtError as exc:
                raise BackendError(f"host {name}: cannot redefine domain: {exc}") from exc

    def set_boot_order(self, name: str, first: BootDevice) -> None:
        order = [_BOOT_DEV[first]] + [_BOOT_DEV[device] for device in BootDevice
                                      if device is not first]

        def edit(root: ET.Element) -> bool:
            os_element = root.find("os")
            assert os_element is not None
            present = os_element.findall("boot")
            if [boot.get("dev") for boot in present] == order:
                return False
            for boot in present:
                os_element.remove(boot)
            for dev in order:
                ET.SubElement(os_element, "boot", dev=dev)
            return True

        self._redefine(name, edit)

    def set_cdrom(self, name: str, image_url: str | None) -> None:
        def edit(root: ET.Element) -> None:
            disk = _find_cdrom(root)
            _fill_cdrom(disk, image_url)

        self._redefine(name, edit)
        if self._live_update:
            self._update_live_cdrom(name, image_url)

    def _update_live_cdrom(self, name: str, image_url: str | None) -> None:
        domain = self._domain(name)
        try:
            if not domain.isActive():
                return
            disk = ET.Element("disk", device="cdrom")
            ET.SubElement(disk, "target", dev="hdc", bus="ide")
            ET.SubElement(disk, "readonly")
            _fill_cdrom(disk, image_url)
            domain.updateDeviceFlags(
                ET.tostring(disk, encoding="unicode"), libvirt.VIR_DOMAIN_AFFECT_LIVE
            )
        except libvirt.libvirtError as exc:
            # The persistent definition is already right; the running guest
            # sees the change at its next boot, as with the test driver.
            LOG.warning("host %s: live CD-ROM change failed: %s", name, exc)

    def cdrom(self, name: str) -> str | None:
        try:
            root = ET.fromstring(self._domain(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot read domain XML: {exc}") from exc
        source = _find_cdrom(root).find("source")
        if source is None:
            return None
        host = source.find("host")
        if source.get("protocol") and host is not None:
            protocol = source.get("protocol")
            # libvirt fills in the scheme's default port; the URL a client gave had none.
            default = {"http": "80", "https": "443"}.get(protocol or "")
            port = f":{host.get('port')}" if host.get("port") not in (None, default) else ""
            return f"{protocol}://{host.get('name')}{port}{source.get('name')}"
        return source.get("file")

    # firmware metadata ----------------------------------------------------------------
    def read_firmware(self, name: str) -> FirmwareRecord | None:
        domain = self._domain(name)
        try:
            text = domain.metadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, FIRMWARE_NS, libvirt.VIR_DOMAIN_AFFECT_CONFIG
            )
        except libvirt.libvirtError:
            return None  # no metadata in our namespace yet
        root = ET.fromstring(text)
        return FirmwareRecord(
            installed={i.get("name", ""): i.get("version", "") for i in root.findall("installed")},
            pending={p.get("name", ""): p.get("version", "") for p in root.findall("pending")},
        )

    def write_firmware(self, name: str, record: FirmwareRecord) -> None:
        root = ET.Element("firmware")
        for component, version in sorted(record.installed.items()):
            ET.SubElement(root, "installed", name=component, version=version)
        for component, version in sorted(record.pending.items()):
            ET.SubElement(root, "pending", name=component, version=version)
        domain = self._domain(name)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        try:
            if domain.isActive():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            domain.setMetadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT,
                ET.tostring(root, encoding="unicode"),
                FIRMWARE_NS_PREFIX,
                FIRMWARE_NS,
                flags,
            )
        except libvirt.libvirtError as exc:
            raise BackendError(f"host {name}: cannot store firmware metadata: {exc}") from exc


def _set_type_qemu(root: ET.Element) -> None:
    root.set("type", "qemu")


def _find_cdrom(root: ET.Element) -> ET.Element:
    for disk in root.iter("disk"):
        if disk.get("device") == "cdrom":
            return disk
    devices = root.find("devices")
    if devices is None:
        devices = ET.SubElement(root, "devices")
    disk = ET.SubElement(devices, "disk", type="file", device="cdrom")
    ET.SubElement(disk, "target", dev="hdc", bus="ide")
    ET.SubElement(disk, "readonly")
    return disk


def _fill_cdrom(disk: ET.Element, image_url: str | None) -> None:
    for old in disk.findall("source") + disk.findall("driver"):
        disk.remove(old)
    if image_url is None:
        disk.set("type", "file")
        return
    parts = urlsplit(image_url)
    disk.set("type", "network")
    others = list(disk)
    for child in others:
        disk.remove(child)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    source = ET.Element("source", protocol=parts.scheme, name=path or "/")
    host = ET.SubElement(source, "host", name=parts.hostname or "")
    if parts.port:
        host.set("port", str(parts.port))
    # <driver> and <source> come before <target>, as libvirt documents them
    disk.extend([ET.Element("driver", name="qemu", type="raw"), source, *others])
