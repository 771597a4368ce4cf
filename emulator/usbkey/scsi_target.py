"""The device side of a USB mass-storage key: Bulk-Only Transport carrying SCSI.

One `BulkOnlyTarget` is the firmware of one emulated key. The host writes a
31-byte Command Block Wrapper to the bulk-OUT endpoint, reads the data stage
(if any) and then the 13-byte Command Status Wrapper from bulk-IN, exactly as
in the USB Mass Storage Class Bulk-Only Transport spec rev 1.0 (§5, §6).
Commands: INQUIRY, TEST UNIT READY, READ CAPACITY(10), READ(10),
REQUEST SENSE, MODE SENSE(6), PREVENT ALLOW MEDIUM REMOVAL; anything else fails
with ILLEGAL REQUEST sense, as a real key does.

Faults (KeyFaults) are injected here because only the device can produce them:
a STALL of bulk-IN during a READ(10) data stage, a short data stage with the
residue reported in the CSW, the key being pulled out after N bytes, and the
medium vanishing after N bytes while the device stays.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
from dataclasses import dataclass

import usb.core

CBW = struct.Struct("<IIIBBB16s")
CSW = struct.Struct("<IIIB")
CBW_SIGNATURE = 0x43425355
CSW_SIGNATURE = 0x53425355
BLOCK_SIZE = 512
# Sense keys / ASC used below (SPC-4 §4.5.6).
SENSE_NOT_READY, SENSE_ILLEGAL_REQUEST, SENSE_ABORTED_COMMAND = 0x02, 0x05, 0x0B
ASC_MEDIUM_NOT_PRESENT, ASC_INVALID_OPCODE, ASC_LBA_OUT_OF_RANGE = 0x3A, 0x20, 0x21


@dataclass(frozen=True)
class KeyFaults:
    """Faults of one emulated key.

    stall_reads / short_reads: how many READ(10) commands (counting from the
    first) stall bulk-IN / return only half their data; -1 means every one.
    remove_after_bytes: the key is pulled out once this many medium bytes were
    read (None: never). eject_after_bytes: the medium goes away but the device
    stays (a card reader): commands then fail with NOT READY / MEDIUM NOT PRESENT.
    not_mass_storage: the key presents a HID interface.
    """

    stall_reads: int = 0
    short_reads: int = 0
    remove_after_bytes: int | None = None
    eject_after_bytes: int | None = None
    not_mass_storage: bool = False

    @classmethod
    def parse(cls, spec: str) -> KeyFaults:
        """From "stall-once", "stall-always", "short-once", "short-always",
        "remove-after:BYTES", "eject-after:BYTES", "not-mass-storage",
        comma-separated ("" = none). Raises ValueError naming an unknown fault."""
        fields: dict[str, object] = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            name, _, arg = item.partition(":")
            if name in ("stall-once", "stall-always"):
                fields["stall_reads"] = 1 if name == "stall-once" else -1
            elif name in ("short-once", "short-always"):
                fields["short_reads"] = 1 if name == "short-once" else -1
            elif name == "remove-after" and arg.isdigit():
                fields["remove_after_bytes"] = int(arg)
            elif name == "eject-after" and arg.isdigit():
                fields["eject_after_bytes"] = int(arg)
            elif name == "not-mass-storage":
                fields["not_mass_storage"] = True
            else:
                raise ValueError(f"unknown USB key fault {item!r}")
        return cls(**fields)  # type: ignore[arg-type]


def usb_error(kind: int, text: str) -> usb.core.USBError:
    """A USBError shaped like the libusb1 backend's (errno + libusb code)."""
    codes = {errno.EPIPE: -9, errno.ENODEV: -4, errno.EIO: -1}
    return usb.core.USBError(text, codes.get(kind, -99), kind)


class BulkOnlyTarget:
    """The emulated key's firmware over a disk-image file (read-only)."""

    def __init__(self, image_path: str, faults: KeyFaults) -> None:
        self._fd = os.open(image_path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size
        self.blocks = self.size // BLOCK_SIZE
        self.faults = faults
        self.removed = False
        self.in_halted = False
        self._lock = threading.Lock()
        self._data_in: bytes | None = None  # None: no data stage pending; b"": a ZLP
        self._csw: bytes | None = None
        self._reads = 0
        self._medium_bytes_read = 0
        self._sense = (0, 0, 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # ----- endpoints ------------------------------------------------------
    def bulk_out(self, data: bytes) -> int:
        """Host -> device. Only CBWs are accepted (the key is read-only)."""
        with self._lock:
            self._check_present()
            if len(data) != CBW.size:
                raise usb_error(errno.EPIPE, "Pipe error")  # invalid CBW: stall (§6.6.1)
            signature, tag, length, flags, lun, cb_len, cb = CBW.unpack(data)
            if signature != CBW_SIGNATURE or not 1 <= cb_len <= 16:
                raise usb_error(errno.EPIPE, "Pipe error")
            self._execute(tag, length, flags & 0x80 != 0, lun, cb[:cb_len])
            return len(data)

    def bulk_in(self, size: int) -> bytes:
        """Device -> host: the pending data stage, then the CSW."""
        with self._lock:
            self._check_present()
            if self.in_halted:
                raise usb_error(errno.EPIPE, "Pipe error")
            if self._data_in is not None:
                # One bulk read takes the whole (possibly short or empty) data stage:
                # a short packet or zero-length packet ends it (BOT §6.7.2).
                chunk, self._data_in = self._data_in[:size], None
                return chunk
            if self._csw is None:
                raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
            csw, self._csw = self._csw, None
            return csw[:size]

    def clear_halt(self) -> None:
        with self._lock:
            self._check_present()
            self.in_halted = False

    def reset(self) -> None:
        """Bulk-Only Mass Storage Reset: forget the command in progress."""
        with self._lock:
            self._check_present()
            self._data_in, self._csw, self.in_halted = None, None, False

    def _check_present(self) -> None:
        if self.removed:
            raise usb_error(errno.ENODEV, "No such device (it may have been disconnected)")

    # ----- SCSI -----------------------------------------------------------
    def _execute(self, tag: int, length: int, data_in: bool, lun: int, cb: bytes) -> None:
        opcode = cb[0]
        if self._ejected() and opcode not in (0x03, 0x12):  # REQUEST SENSE, INQUIRY work
            self._finish(tag, length, b"", SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT)
        elif lun != 0:
            self._finish(tag, length, b"", SENSE_ILLEGAL_REQUEST, 0x25)
        elif opcode == 0x12:  # INQUIRY
            inquiry = bytes([0x00, 0x80, 0x06, 0x02, 31, 0, 0, 0]) + b"FLEETFLS" \
                + b"Emulated Key    " + b"1.00"
            self._finish(tag, length, inquiry[: cb[4]])
        elif opcode == 0x00:  # TEST UNIT READY
            self._finish(tag, length, b"")
        elif opcode == 0x03:  # REQUEST SENSE (fixed format)
            key, asc, ascq = self._sense
            sense = bytes([0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0])
            self._finish(tag, length, sense[: cb[4]])
        elif opcode == 0x25:  # READ CAPACITY(10)
            self._finish(tag, length, struct.pack(">II", self.blocks - 1, BLOCK_SIZE))
        elif opcode == 0x1A:  # MODE SENSE(6): no pages, write-protected
            self._finish(tag, length, bytes([3, 0, 0x80, 0])[: cb[4]])
        elif opcode == 0x1E:  # PREVENT ALLOW MEDIUM REMOVAL
            self._finish(tag, length, b"")
        elif opcode == 0x28 and data_in:  # READ(10)
            lba, blocks = struct.unpack(">I", cb[2:6])[0], struct.unpack(">H", cb[7:9])[0]
            self._read10(tag, length, lba, blocks)
        else:
            self._finish(tag, length, b"", SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE)

    def _ejected(self) -> bool:
        limit = self.faults.eject_after_bytes
        return limit is not None and self._medium_bytes_read >= limit

    def _read10(self, tag: int, length: int, lba: int, blocks: int) -> None:
        if lba + blocks > self.blocks or blocks * BLOCK_SIZE > length:
            self._finish(tag, length, b"", SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE)
            return
        self._reads += 1
        if _fault_applies(self.faults.stall_reads, self._reads):
            # §6.7.2 case (Hi > Di): stall bulk-IN; the CSW follows the host's CLEAR_FEATURE.
            self.in_halted = True
            self._sense = (SENSE_ABORTED_COMMAND, 0x47, 0)  # SCSI parity error: retry
            self._data_in, self._csw = None, CSW.pack(CSW_SIGNATURE, tag, length, 1)
            return
        data = os.pread(self._fd, blocks * BLOCK_SIZE, lba * BLOCK_SIZE)
        if _fault_applies(self.faults.short_reads, self._reads):
            data = data[: (len(data) // 2) // BLOCK_SIZE * BLOCK_SIZE]
        limit = self.faults.remove_after_bytes
        if limit is not None and self._medium_bytes_read + len(data) > limit:
            self.removed = True  # pulled out while this transfer was under way
            raise usb_error(errno.ENODEV, "No such device (it may have been disconnected)")
        eject = self.faults.eject_after_bytes
        if eject is not None and self._medium_bytes_read + len(data) > eject:
            self._medium_bytes_read = eject  # the medium left during this transfer
            self._finish(tag, length, b"", SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT)
            return
        self._medium_bytes_read += len(data)
        self._finish(tag, length, data)

    def _finish(self, tag: int, length: int, data: bytes, sense_key: int = 0,
                asc: int = 0) -> None:
        status = 1 if sense_key else 0
        self._sense = (sense_key, asc, 0)
        sent = data[:length]
        self._csw = CSW.pack(CSW_SIGNATURE, tag, length - len(sent), status)
        self._data_in = sent if length and not status else None
        if status and length:
            self.in_halted = True  # §6.7.2: host expected data the device will not send


def _fault_applies(count: int, nth: int) -> bool:
    return count == -1 or nth <= count
