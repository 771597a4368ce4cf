"""An emulated USB mass-storage key: a pyusb backend over a disk-image file.

Tests and labs use it instead of hardware; see docs/media.md#usb.
"""

from emulator.usbkey.backend import EmulatedKey, EmulatedUsbBackend, backend_from_env
from emulator.usbkey.scsi_target import BLOCK_SIZE, BulkOnlyTarget, KeyFaults

__all__ = [
    "BLOCK_SIZE", "BulkOnlyTarget", "EmulatedKey", "EmulatedUsbBackend", "KeyFaults",
    "backend_from_env",
]
