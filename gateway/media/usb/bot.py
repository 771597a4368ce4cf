"""Host side of USB Mass Storage Bulk-Only Transport (BOT rev 1.0) with SCSI commands.

`BulkOnlyDisk` opens a pyusb Device that has a class 0x08 / subclass 0x06 /
protocol 0x50 interface and reads it block by block:

- every command is CBW -> optional data-in -> CSW (§5.1, §5.2);
- a STALL on bulk-IN (data or CSW stage) is cleared with CLEAR_FEATURE
  (ENDPOINT_HALT) and the CSW is read again (§6.7.2, §5.3.3);
- an invalid CSW or a phase error triggers Reset Recovery: Bulk-Only Mass
  Storage Reset, then CLEAR_FEATURE on both bulk endpoints (§5.3.4);
- the CSW residue says how much of a READ(10) really arrived; the rest is
  re-read, and a device that keeps making no progress is an error;
- "no such device" from the backend means the key was pulled out.
"""

from __future__ import annotations

import errno
import itertools
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import usb.core
import usb.util

from gateway.media.usb.errors import KeyRemovedError, NotMassStorageError, UsbTransportError

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
_CBW = struct.Struct("<IIIBBB16s")
_CSW = struct.Struct("<IIIB")
_CBW_SIGNATURE, _CSW_SIGNATURE = 0x43425355, 0x53425355
MASS_STORAGE = (0x08, 0x06, 0x50)
TIMEOUT_MS = 5000
MAX_TRANSFER_BYTES = 512 * 1024
MAX_ATTEMPTS = 3
# Sense keys worth retrying (SPC-4): UNIT ATTENTION, ABORTED COMMAND.
_RETRYABLE_SENSE = {0x06, 0x0B}
_NOT_READY, _MEDIUM_NOT_PRESENT = 0x02, 0x3A


@dataclass(frozen=True)
class Inquiry:
    """Standard INQUIRY data: vendor/product/revision as the device reports them."""

    device_type: int
    removable: bool
    vendor: str
    product: str
    revision: str


@dataclass(frozen=True)
class Sense:
    key: int
    asc: int
    ascq: int

    def describe(self) -> str:
        return f"sense key 0x{self.key:02x}, ASC/ASCQ 0x{self.asc:02x}/0x{self.ascq:02x}"


class _CommandFailed(Exception):
    """CSW status 1 (internal: the caller decides with REQUEST SENSE)."""


def find_bulk_only_interface(device: usb.core.Device) -> tuple[int, int, int]:
    """(interface number, bulk-IN address, bulk-OUT address) of a BOT SCSI interface.

    Raises NotMassStorageError naming the classes the device does offer.
    """
    seen = []
    for config in device:
        for interface in config:
            triple = (interface.bInterfaceClass, interface.bInterfaceSubClass,
                      interface.bInterfaceProtocol)
            seen.append("/".join(f"{v:02x}" for v in triple))
            if triple != MASS_STORAGE:
                continue
            ep_in = ep_out = None
            for endpoint in interface:
                if usb.util.endpoint_type(endpoint.bmAttributes) != usb.util.ENDPOINT_TYPE_BULK:
                    continue
                if usb.util.endpoint_direction(endpoint.bEndpointAddress) == usb.util.ENDPOINT_IN:
                    ep_in = endpoint.bEndpointAddress
                else:
                    ep_out = endpoint.bEndpointAddress
            if ep_in is not None and ep_out is not None:
                return interface.bInterfaceNumber, ep_in, ep_out
    raise NotMassStorageError(
        f"USB device {device.idVendor:04x}:{device.idProduct:04x} is not a mass-storage key "
        f"(interfaces class/subclass/protocol: {', '.join(seen) or 'none'}; need 08/06/50)")


class BulkOnlyDisk:
    """A SCSI direct-access device reached over Bulk-Only Transport.

    After `open()`: `block_size` and `block_count` are known; `read_blocks()`
    returns whole blocks. All errors are UsbKeyError subclasses.
    """

    def __init__(self, device: usb.core.Device, *, timeout_ms: int = TIMEOUT_MS) -> None:
        self.device = device
        self.interface, self.ep_in, self.ep_out = find_bulk_only_interface(device)
        self._timeout = timeout_ms
        self._tags = itertools.count(1)
        self.block_size = 0
        self.block_count = 0
        self.recoveries = 0  # STALLs cleared and short transfers re-read (for logs and tests)
        self.bytes_read = 0  # medium bytes of completed READ(10) transfers
        self._reading: tuple[int, int] | None = None  # (byte offset, length) under way
        self._detached = False

    def open(self) -> Inquiry:
        """Claim the interface, identify the device and wait until its medium is ready."""
        self._usb(self._claim)
        inquiry = self.inquiry()
        for attempt in range(MAX_ATTEMPTS + 1):
            try:
                self._usb(self._command, bytes(6), 0)  # TEST UNIT READY
                break
            except _CommandFailed:
                sense = self.request_sense()
                self._raise_if_no_medium(sense)
                if sense.key not in _RETRYABLE_SENSE or attempt == MAX_ATTEMPTS:
                    raise UsbTransportError(
                        f"USB key is not ready ({sense.describe()})") from None
        self.block_count, self.block_size = self.read_capacity()
        return inquiry

    def close(self) -> None:
        """Release the interface, give the key back to the kernel driver if we took it,
        and close the device handle (never raises)."""
        try:
            usb.util.release_interface(self.device, self.interface)
            if self._detached:
                self.device.attach_kernel_driver(self.interface)
            usb.util.dispose_resources(self.device)
        except (usb.core.USBError, ValueError, NotImplementedError) as exc:
            log.debug("usb: release failed: %s", exc)

    def _claim(self) -> None:
        # On Linux the usb-storage driver owns the key; borrow it while reading.
        try:
            if self.device.is_kernel_driver_active(self.interface):
                self.device.detach_kernel_driver(self.interface)
                self._detached = True
        except NotImplementedError:
            pass  # backends without kernel drivers (Windows, emulated keys)
        self.device.set_configuration()
        usb.util.claim_interface(self.device, self.interface)

    # ----- SCSI commands ------------------------------------------------------
    def inquiry(self) -> Inquiry:
        data = self._checked(bytes([0x12, 0, 0, 0, 36, 0]), 36, "INQUIRY")
        if len(data) < 36:
            raise UsbTransportError(f"INQUIRY returned {len(data)} bytes, need 36")
        text = [data[a:b].decode("ascii", "replace").strip() for a, b in ((8, 16), (16, 32),
                                                                        (32, 36))]
        return Inquiry(data[0] & 0x1F, bool(data[1] & 0x80), *text)

    def read_capacity(self) -> tuple[int, int]:
        """(block count, block size in bytes) from READ CAPACITY(10)."""
        data = self._checked(bytes([0x25] + [0] * 9), 8, "READ CAPACITY(10)")
        if len(data) != 8:
            raise UsbTransportError(f"READ CAPACITY(10) returned {len(data)} bytes, need 8")
        last_lba, block_size = struct.unpack(">II", data)
        if last_lba == 0xFFFFFFFF:
            raise UsbTransportError("USB keys over 2 TiB need READ CAPACITY(16); not supported")
        if block_size not in (512, 1024, 2048, 4096):
            raise UsbTransportError(f"USB key reports an unusual block size of {block_size}")
        return last_lba + 1, block_size

    def request_sense(self) -> Sense:
        data = self._usb(self._command, bytes([0x03, 0, 0, 0, 18, 0]), 18)
        if len(data) < 14:
            return Sense(0, 0, 0)
        return Sense(data[2] & 0x0F, data[12], data[13])

    def read_blocks(self, lba: int, count: int) -> bytes:
        """`count` whole blocks from `lba` (READ(10), split at MAX_TRANSFER_BYTES).

        Raises KeyRemovedError, UsbTransportError, or ValueError for blocks past the end.
        """
        if lba < 0 or count < 0 or lba + count > self.block_count:
            raise ValueError(f"blocks {lba}+{count} are outside the key ({self.block_count})")
        out = bytearray()
        per_command = max(1, MAX_TRANSFER_BYTES // self.block_size)
        stalled = 0
        try:
            while count > 0:
                blocks = min(count, per_command)
                cb = struct.pack(">BBIBHB", 0x28, 0, lba, 0, blocks, 0)
                self._reading = (lba * self.block_size, blocks * self.block_size)
                try:
                    data = self._usb(self._command, cb, blocks * self.block_size)
                except _CommandFailed:
                    sense = self.request_sense()
                    self._raise_if_no_medium(sense)
                    stalled += 1
                    if sense.key not in _RETRYABLE_SENSE or stalled >= MAX_ATTEMPTS:
                        raise UsbTransportError(
                            f"READ(10) at block {lba} failed {stalled} time(s) "
                            f"({sense.describe()})") from None
                    self.recoveries += 1
                    continue
                whole = len(data) // self.block_size
                if whole < blocks:
                    # Residue: keep the whole blocks that arrived, re-read the rest.
                    stalled = stalled + 1 if whole == 0 else 0
                    self.recoveries += 1
                    if stalled >= MAX_ATTEMPTS:
                        raise UsbTransportError(
                            f"USB key keeps returning short reads at block {lba} "
                            f"(no progress after {stalled} tries)")
                else:
                    stalled = 0
                out += data[: whole * self.block_size]
                self.bytes_read += whole * self.block_size
                lba += whole
                count -= whole
        finally:
            self._reading = None
        return bytes(out)

    # ----- transport ----------------------------------------------------------
    def _checked(self, cb: bytes, length: int, name: str) -> bytes:
        try:
            return self._usb(self._command, cb, length)
        except _CommandFailed:
            sense = self.request_sense()
            self._raise_if_no_medium(sense)
            raise UsbTransportError(f"{name} failed ({sense.describe()})") from None

    def _command(self, cb: bytes, length: int) -> bytes:
        """One BOT command with a data-in stage of at most `length` bytes."""
        tag = next(self._tags) & 0xFFFFFFFF
        cbw = _CBW.pack(_CBW_SIGNATURE, tag, length, 0x80 if length else 0, 0, len(cb),
                        cb.ljust(16, b"\0"))
        try:
            self.device.write(self.ep_out, cbw, self._timeout)
        except usb.core.USBError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self._reset_recovery()
            raise UsbTransportError("USB key refused a command block (STALL on bulk-OUT)"
                                    ) from exc
        data = b""
        if length:
            try:
                data = bytes(self.device.read(self.ep_in, length, self._timeout))
            except usb.core.USBError as exc:
                if exc.errno != errno.EPIPE:
                    raise
                self._clear_stall()  # §6.7.2: the CSW follows the cleared STALL
        residue, status = self._read_csw(tag)
        if status == 1:
            raise _CommandFailed()
        if residue > length:
            self._reset_recovery()
            raise UsbTransportError(f"USB key reported residue {residue} > {length} requested")
        return data[: length - residue]

    def _read_csw(self, tag: int) -> tuple[int, int]:
        for attempt in range(2):
            try:
                raw = bytes(self.device.read(self.ep_in, _CSW.size, self._timeout))
                break
            except usb.core.USBError as exc:
                if exc.errno != errno.EPIPE or attempt == 1:
                    if exc.errno == errno.EPIPE:
                        self._reset_recovery()
                        raise UsbTransportError("USB key stalled the status stage twice"
                                                ) from exc
                    raise
                self._clear_stall()
        if len(raw) != _CSW.size:
            self._reset_recovery()
            raise UsbTransportError(f"USB key sent a {len(raw)}-byte status wrapper, not 13")
        signature, csw_tag, residue, status = _CSW.unpack(raw)
        if signature != _CSW_SIGNATURE or csw_tag != tag or status > 2:
            self._reset_recovery()
            raise UsbTransportError("USB key sent an invalid status wrapper (BOT §6.3)")
        if status == 2:
            self._reset_recovery()
            raise UsbTransportError("USB key reported a phase error; reset and gave up")
        return residue, status

    def _clear_stall(self) -> None:
        self.recoveries += 1
        log.info("usb: clearing STALL on endpoint 0x%02x", self.ep_in)
        self.device.clear_halt(self.ep_in)

    def _reset_recovery(self) -> None:
        """BOT §5.3.4; errors here are secondary to the one being reported."""
        try:
            self.device.ctrl_transfer(0x21, 0xFF, 0, self.interface, None, self._timeout)
            self.device.clear_halt(self.ep_in)
            self.device.clear_halt(self.ep_out)
        except usb.core.USBError as exc:
            log.debug("usb: reset recovery failed: %s", exc)

    def _removal_message(self) -> str:
        # A transfer cut off by the removal delivers nothing (libusb drops its partial
        # data), so a key pulled during the first big read had delivered 0 bytes; the
        # read under way says how far the gateway had got on the key.
        message = (f"the USB key was removed while it was being read (after {self.bytes_read} "
                   f"bytes had arrived")
        if self._reading is not None:
            offset, length = self._reading
            message += f"; a {length}-byte read at byte {offset} of the key was cut off"
        return message + ")"

    def _raise_if_no_medium(self, sense: Sense) -> None:
        if sense.key == _NOT_READY and sense.asc == _MEDIUM_NOT_PRESENT:
            raise KeyRemovedError("the USB key reports no medium (removed or ejected)")

    def _usb(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a USB operation, translating backend errors at the edge."""
        try:
            return func(*args, **kwargs)
        except usb.core.USBTimeoutError as exc:
            raise UsbTransportError(f"USB key did not answer within {self._timeout} ms"
                                    ) from exc
        except usb.core.USBError as exc:
            if exc.errno == errno.ENODEV:
                raise KeyRemovedError(self._removal_message()) from exc
            raise UsbTransportError(f"USB transfer failed: {exc.strerror or exc}") from exc
