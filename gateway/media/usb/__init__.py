"""USB mass-storage keys as an update source (pyusb, Bulk-Only Transport, SCSI).

Public names: UsbKeySource, UsbKeyWatcher, UsbBundle, KeyReport, BulkOnlyDisk,
UsbBlockDevice, backend_from_environment and the UsbKeyError family.
"""

from gateway.media.usb.blockdev import UsbBlockDevice
from gateway.media.usb.bot import BulkOnlyDisk, Inquiry
from gateway.media.usb.discovery import (
    BACKEND_ENV,
    attached_devices,
    backend_from_environment,
    is_mass_storage,
)
from gateway.media.usb.errors import (
    BundleRejectedError,
    KeyFilesystemError,
    KeyRemovedError,
    NoBundleError,
    NotMassStorageError,
    UsbKeyError,
    UsbTransportError,
)
from gateway.media.usb.service import build_usb_watcher
from gateway.media.usb.source import KeyReport, Publish, UsbBundle, UsbKeySource
from gateway.media.usb.watcher import UsbKeyWatcher

__all__ = [
    "BACKEND_ENV", "BulkOnlyDisk", "BundleRejectedError", "Inquiry", "KeyFilesystemError",
    "KeyRemovedError", "KeyReport", "NoBundleError", "NotMassStorageError", "Publish",
    "UsbBlockDevice", "UsbBundle", "UsbKeyError", "UsbKeySource", "UsbKeyWatcher",
    "UsbTransportError", "attached_devices", "backend_from_environment", "build_usb_watcher",
    "is_mass_storage",
]
