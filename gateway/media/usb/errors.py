"""Errors of the USB key source; all are MediaError, each message one clear line."""

from __future__ import annotations

from gateway.media.errors import MediaError


class UsbKeyError(MediaError):
    """Root of USB key problems (nothing is published when one is raised)."""


class NotMassStorageError(UsbKeyError):
    """The device has no Bulk-Only SCSI mass-storage interface."""


class UsbTransportError(UsbKeyError):
    """The Bulk-Only Transport failed (STALL that would not clear, short reads, bad CSW)."""


class KeyRemovedError(UsbKeyError):
    """The key or its medium went away while it was being read."""


class NoBundleError(UsbKeyError):
    """The key holds no update bundle (neither an ISO image nor a FAT volume with .iso files)."""


class KeyFilesystemError(UsbKeyError):
    """The key's filesystem is corrupt or unsupported."""


class BundleRejectedError(UsbKeyError):
    """A bundle on the key failed verification (signature, hashes or format)."""
