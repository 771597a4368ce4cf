"""The USB key as an update source: find, copy off, verify, then publish as if alerted.

"Insert the update key once, update the whole cluster." For each key:
1. open it over Bulk-Only Transport and find candidate bundles (ISO key or FAT);
2. copy each bundle off the key into the staging directory, hashing as it goes
   (the key may be pulled out any time; the gateway must not depend on it);
3. verify each staged copy with firmware_payloads against the [usb] source's
   trusted keys (signature and every payload hash);
4. only when the whole key was read without a USB error, publish the verified
   bundles through the injected `publish` callable, in the order found, and log
   what the receiver decided (it may still refuse, e.g. a withdrawn image).
A bundle failing verification is reported and not published; a USB error or a
removed key publishes nothing from that key. Staged files of anything not
published are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import usb.core
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import firmware_payloads as fp
from gateway.media.usb.blockdev import UsbBlockDevice
from gateway.media.usb.bot import BulkOnlyDisk
from gateway.media.usb.errors import BundleRejectedError, UsbKeyError
from gateway.media.usb.layout import BundleOnKey, find_bundles, iter_bundle_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsbBundle:
    """A verified bundle copied off a key, handed to `publish`.

    path: the staged local copy (the receiver may move it); sha256: lowercase hex of
    its bytes; size: bytes; name: where it was on the key; key: "VID:PID serial".
    """

    source: str
    key: str
    name: str
    path: Path
    sha256: str
    size: int
    manifest: fp.Manifest


# Returns the receiver's decision in words ("accepted", "rejected: …") for the log,
# or None when the receiver has nothing to say.
Publish = Callable[[UsbBundle], str | None]


@dataclass
class KeyReport:
    """What happened with one key: bundles published, bundles refused, or one error."""

    key: str
    capacity_bytes: int = 0
    found: list[BundleOnKey] = field(default_factory=list)
    published: list[UsbBundle] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one clear line per refused bundle
    error: str | None = None


def describe_device(device: usb.core.Device) -> str:
    """"VID:PID serial" (or "VID:PID bus B address A" when the serial cannot be read)."""
    ident = f"{device.idVendor:04x}:{device.idProduct:04x}"
    try:
        serial = device.serial_number
    except (usb.core.USBError, ValueError, NotImplementedError):
        serial = None
    return f"{ident} {serial}" if serial else f"{ident} bus {device.bus} address {device.address}"


def scan_key(device: usb.core.Device) -> KeyReport:
    """Capacity and candidate bundles of a key; problems land in `report.error`."""
    report = KeyReport(describe_device(device))
    try:
        with _opened_key(device, report):
            pass
    except UsbKeyError as exc:
        report.error = str(exc)
    return report


@contextlib.contextmanager
def _opened_key(device: usb.core.Device,
                report: KeyReport) -> Iterator[tuple[BulkOnlyDisk, UsbBlockDevice]]:
    """Open the key and fill `report.capacity_bytes` and `report.found`; the key is
    released on leaving. Raises UsbKeyError (not a key, USB error, unreadable layout)."""
    disk = BulkOnlyDisk(device)
    try:
        disk.open()
        block_device = UsbBlockDevice(disk)
        report.capacity_bytes = block_device.size
        report.found = find_bundles(block_device, block_device.size)
        yield disk, block_device
    finally:
        disk.close()


class UsbKeySource:
    """Reads keys and publishes their verified bundles under one configured source name."""

    def __init__(self, source: str, trusted_keys: Sequence[Ed25519PublicKey],
                 staging_dir: Path, publish: Publish | None = None) -> None:
        if not trusted_keys:
            raise UsbKeyError("the USB source needs at least one trusted key")
        self.source = source
        self._trusted = tuple(trusted_keys)
        self._staging = staging_dir
        self._publish = publish

    def scan(self, device: usb.core.Device) -> KeyReport:
        """List the bundles on a key without copying or publishing anything."""
        return scan_key(device)

    def import_key(self, device: usb.core.Device) -> KeyReport:
        """Copy, verify and (if a publish callable was given) publish a key's bundles.

        Never raises for key problems: the outcome, including a clear error line,
        is in the returned KeyReport.
        """
        report = KeyReport(describe_device(device))
        staged: list[tuple[BundleOnKey, Path, str]] = []
        try:
            with _opened_key(device, report) as (disk, block_device):
                self._staging.mkdir(parents=True, exist_ok=True)
                for bundle in report.found:
                    path, digest = self._copy_off(block_device, bundle)
                    staged.append((bundle, path, digest))
                if disk.recoveries:
                    log.info("usb: key %s needed %d transport recoveries", report.key,
                             disk.recoveries)
        except UsbKeyError as exc:
            report.error = str(exc)
            log.warning("usb: key %s: %s; nothing published", report.key, exc)
            _discard(path for _, path, _ in staged)
            return report
        verified = []
        for bundle, path, digest in staged:
            try:
                verified.append(self._verify(report.key, bundle, path, digest))
            except BundleRejectedError as exc:
                report.rejected.append(str(exc))
                log.warning("usb: key %s: %s", report.key, exc)
                _discard([path])
        for item in verified:
            decision = self._publish(item) if self._publish is not None else None
            report.published.append(item)
            log.info("usb: bundle %s (%s) from key %s handed over: %s",
                     item.manifest.bundle_id, item.sha256[:12], report.key,
                     decision or "no decision reported")
        return report

    def _copy_off(self, device: UsbBlockDevice, bundle: BundleOnKey) -> tuple[Path, str]:
        partial = self._staging / f".incoming-{secrets.token_hex(8)}.part"
        digest = hashlib.sha256()
        try:
            with partial.open("wb") as out:
                for chunk in iter_bundle_bytes(device, bundle):
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            _discard([partial])
            raise
        return partial, digest.hexdigest()

    def _verify(self, key: str, bundle: BundleOnKey, path: Path, digest: str) -> UsbBundle:
        try:
            with fp.open_bundle(path) as reader:
                manifest = fp.verify_bundle(reader, self._trusted)
        except fp.BundleError as exc:
            raise BundleRejectedError(f"bundle {bundle.name} on the key was refused: {exc}"
                                      ) from exc
        final = self._staging / f"{digest}.iso"
        os.replace(path, final)
        return UsbBundle(self.source, key, bundle.name, final, digest, bundle.size, manifest)


def _discard(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("usb: cannot remove staged file %s: %s", path, exc.strerror)
