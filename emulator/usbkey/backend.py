"""A pyusb backend presenting disk-image files as USB mass-storage keys.

`EmulatedUsbBackend` subclasses usb.backend.IBackend, so host code runs
unchanged through usb.core.find() / Device.read() / Device.write() /
ctrl_transfer() / clear_halt(): only the bytes on the wire are emulated.
Keys can be plugged and unplugged at run time (for the watcher).

Selecting it: FLEETFLASH_USB_BACKEND=emulator.usbkey:backend_from_env and
FLEETFLASH_EMULATED_KEYS="/path/key.img[#faults];/path/other.img" (faults as in
KeyFaults.parse, e.g. "key.img#stall-once").
"""

from __future__ import annotations

import array
import errno
import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import usb.backend

from emulator.usbkey.scsi_target import BulkOnlyTarget, KeyFaults, usb_error

VENDOR_ID = 0x1209  # pid.codes, the open-source vendor id
PRODUCT_ID = 0x0001  # pid.codes test PID
EP_OUT, EP_IN = 0x02, 0x81
_MASS_STORAGE = (0x08, 0x06, 0x50)  # class, SCSI transparent, Bulk-Only
_HID = (0x03, 0x00, 0x00)


@dataclass
class EmulatedKey:
    """One key: a disk-image file, its serial number and its faults."""

    image: str
    faults: KeyFaults = field(default_factory=KeyFaults)
    serial: str = ""
    bus: int = 1
    address: int = 0
    target: BulkOnlyTarget | None = None

    @property
    def present(self) -> bool:
        return self.target is None or not self.target.removed


class EmulatedUsbBackend(usb.backend.IBackend):  # type: ignore[misc]
    """The pyusb backend. `plug()` / `unplug()` change what enumeration shows."""

    def __init__(self, keys: list[EmulatedKey] | None = None) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._keys: list[EmulatedKey] = []
        self._addresses = itertools.count(2)
        for key in keys or []:
            self.plug(key)

    def plug(self, key: EmulatedKey) -> EmulatedKey:
        """Insert `key` (gets the next bus address and a serial if it has none)."""
        with self._lock:
            key.address = next(self._addresses)
            key.serial = key.serial or f"FF{key.address:010d}"
            self._keys.append(key)
        return key

    def unplug(self, key: EmulatedKey) -> None:
        """Remove `key`; open handles then fail with ENODEV like a pulled key."""
        with self._lock:
            if key in self._keys:
                self._keys.remove(key)
            if key.target is not None:
                key.target.removed = True

    # ----- enumeration and descriptors ---------------------------------------
    def enumerate_devices(self) -> Iterator[EmulatedKey]:
        with self._lock:
            keys = [k for k in self._keys if k.present]
        return iter(keys)

    def get_device_descriptor(self, dev: EmulatedKey) -> SimpleNamespace:
        return SimpleNamespace(
            bLength=18, bDescriptorType=1, bcdUSB=0x0200, bDeviceClass=0, bDeviceSubClass=0,
            bDeviceProtocol=0, bMaxPacketSize0=64, idVendor=VENDOR_ID, idProduct=PRODUCT_ID,
            bcdDevice=0x0100, iManufacturer=1, iProduct=2, iSerialNumber=3,
            bNumConfigurations=1, address=dev.address, bus=dev.bus, port_number=dev.address,
            port_numbers=(dev.address,), speed=3,
        )

    def get_configuration_descriptor(self, dev: EmulatedKey, config: int) -> SimpleNamespace:
        _only_index(config)
        return SimpleNamespace(
            bLength=9, bDescriptorType=2, wTotalLength=32, bNumInterfaces=1,
            bConfigurationValue=1, iConfiguration=0, bmAttributes=0x80, bMaxPower=50,
            extra_descriptors=[], extra=b"",
        )

    def get_interface_descriptor(self, dev: EmulatedKey, intf: int, alt: int,
                                 config: int) -> SimpleNamespace:
        _only_index(intf, alt, config)
        klass, subclass, protocol = _HID if dev.faults.not_mass_storage else _MASS_STORAGE
        return SimpleNamespace(
            bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0,
            bNumEndpoints=2, bInterfaceClass=klass, bInterfaceSubClass=subclass,
            bInterfaceProtocol=protocol, iInterface=0, extra_descriptors=[], extra=b"",
        )

    def get_endpoint_descriptor(self, dev: EmulatedKey, ep: int, intf: int, alt: int,
                                config: int) -> SimpleNamespace:
        _only_index(intf, alt, config)
        if ep not in (0, 1):
            raise IndexError("endpoint index out of range")
        return SimpleNamespace(
            bLength=7, bDescriptorType=5, bEndpointAddress=(EP_IN, EP_OUT)[ep],
            bmAttributes=0x02, wMaxPacketSize=512, bInterval=0, bRefresh=0, bSynchAddress=0,
            extra_descriptors=[], extra=b"",
        )

    # ----- handles -------------------------------------------------------------
    def open_device(self, dev: EmulatedKey) -> EmulatedKey:
        if not dev.present:
            raise usb_error(errno.ENODEV, "No such device (it may have been disconnected)")
        if dev.target is None:
            dev.target = BulkOnlyTarget(dev.image, dev.faults)
        return dev

    def close_device(self, dev_handle: EmulatedKey) -> None:
        target = dev_handle.target
        if target is not None:
            target.close()
            if not target.removed:  # a pulled key stays pulled (keeps failing with ENODEV)
                dev_handle.target = None

    def set_configuration(self, dev_handle: EmulatedKey, config_value: int) -> None:
        _target(dev_handle)

    def get_configuration(self, dev_handle: EmulatedKey) -> int:
        _target(dev_handle)
        return 1

    def set_interface_altsetting(self, dev_handle: EmulatedKey, intf: int, alt: int) -> None:
        _target(dev_handle)

    def claim_interface(self, dev_handle: EmulatedKey, intf: int) -> None:
        _target(dev_handle)

    def release_interface(self, dev_handle: EmulatedKey, intf: int) -> None:
        """Releasing never fails, even for a pulled key (libusb behaves the same)."""

    def is_kernel_driver_active(self, dev_handle: EmulatedKey, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: EmulatedKey, intf: int) -> None:
        """No kernel driver binds emulated keys."""

    # ----- transfers -------------------------------------------------------------
    def bulk_write(self, dev_handle: EmulatedKey, ep: int, intf: int, data: array.array[int],
                   timeout: int) -> int:
        target = _target(dev_handle)
        if ep != EP_OUT or dev_handle.faults.not_mass_storage:
            raise usb_error(errno.EPIPE, "Pipe error")
        return target.bulk_out(data.tobytes())

    def bulk_read(self, dev_handle: EmulatedKey, ep: int, intf: int, buff: array.array[int],
                  timeout: int) -> int:
        target = _target(dev_handle)
        if ep != EP_IN or dev_handle.faults.not_mass_storage:
            raise usb_error(errno.EPIPE, "Pipe error")
        data = target.bulk_in(len(buff) * buff.itemsize)
        memoryview(buff).cast("B")[: len(data)] = data
        return len(data)

    def clear_halt(self, dev_handle: EmulatedKey, ep: int) -> None:
        target = _target(dev_handle)
        if ep == EP_IN:
            target.clear_halt()

    def reset_device(self, dev_handle: EmulatedKey) -> None:
        _target(dev_handle).reset()

    def ctrl_transfer(self, dev_handle: EmulatedKey, bmRequestType: int, bRequest: int,
                      wValue: int, wIndex: int, data: array.array[int], timeout: int) -> int:
        target = _target(dev_handle)
        if bmRequestType == 0x80 and bRequest == 0x06 and wValue >> 8 == 3:  # GET_DESCRIPTOR
            reply = _string_descriptor(dev_handle, wValue & 0xFF)
        elif bmRequestType == 0xA1 and bRequest == 0xFE:  # Get Max LUN
            reply = b"\x00"
        elif bmRequestType == 0x21 and bRequest == 0xFF:  # Bulk-Only Mass Storage Reset
            target.reset()
            return 0
        else:
            raise usb_error(errno.EPIPE, "Pipe error")  # unsupported request: STALL
        view = memoryview(data).cast("B")
        count = min(len(reply), len(view))
        view[:count] = reply[:count]
        return count


def _only_index(*indexes: int) -> None:
    if any(i != 0 for i in indexes):
        raise IndexError("descriptor index out of range")


def _target(dev_handle: EmulatedKey) -> BulkOnlyTarget:
    if dev_handle.target is None or dev_handle.target.removed:
        raise usb_error(errno.ENODEV, "No such device (it may have been disconnected)")
    return dev_handle.target


def _string_descriptor(key: EmulatedKey, index: int) -> bytes:
    if index == 0:
        return bytes([4, 3, 0x09, 0x04])  # one LANGID: en-US
    text = {1: "fleetflash", 2: "Emulated USB key", 3: key.serial}.get(index, "")
    encoded = text.encode("utf-16-le")
    return bytes([2 + len(encoded), 3]) + encoded


def backend_from_env(environ: Any = None) -> EmulatedUsbBackend:
    """Build the backend from FLEETFLASH_EMULATED_KEYS ("IMAGE[#FAULTS];...").

    Raises ValueError naming a missing image file or an unknown fault.
    """
    spec = (environ if environ is not None else os.environ).get("FLEETFLASH_EMULATED_KEYS", "")
    keys = []
    for item in filter(None, (s.strip() for s in spec.split(";"))):
        image, _, faults = item.partition("#")
        if not os.path.isfile(image):
            raise ValueError(f"emulated USB key image {image!r} does not exist")
        keys.append(EmulatedKey(image, KeyFaults.parse(faults)))
    return EmulatedUsbBackend(keys)
