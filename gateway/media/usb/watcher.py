"""Watch for USB keys being plugged in, by polling pyusb's device enumeration.

Polling (default every 2 s) needs no udev or hotplug support in the backend, and
works the same for the emulated backend. Each newly seen device is handled once;
unplugging forgets it, so plugging the same key in again imports it again.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import usb.backend
import usb.core

from gateway.media.usb.discovery import attached_devices, is_mass_storage
from gateway.media.usb.errors import NotMassStorageError, UsbKeyError
from gateway.media.usb.source import KeyReport, UsbKeySource, describe_device

log = logging.getLogger(__name__)
DeviceId = tuple[int, int, int, int]


def _identity(device: usb.core.Device) -> DeviceId:
    return (device.bus or 0, device.address or 0, device.idVendor, device.idProduct)


class UsbKeyWatcher:
    """Import every key that appears. `poll_once()` is the unit of work; `start()`
    runs it every `interval_s` seconds in a daemon thread until `stop()`."""

    def __init__(self, source: UsbKeySource, backend: usb.backend.IBackend | None, *,
                 interval_s: float = 2.0,
                 on_report: Callable[[KeyReport], None] | None = None) -> None:
        self._source = source
        self._backend = backend
        self._interval = interval_s
        self._on_report = on_report
        self._seen: set[DeviceId] = set()
        self.reports: deque[KeyReport] = deque(maxlen=100)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> list[KeyReport]:
        """Handle devices that appeared since the last poll; return their reports."""
        try:
            devices = attached_devices(self._backend)
        except UsbKeyError as exc:
            log.warning("usb: %s", exc)
            return []
        present = {_identity(d): d for d in devices}
        self._seen &= set(present)
        reports = []
        for identity, device in present.items():
            if identity in self._seen:
                continue
            self._seen.add(identity)
            if is_mass_storage(device):
                report = self._source.import_key(device)
            else:
                report = KeyReport(describe_device(device), error=str(NotMassStorageError(
                    "not a USB mass-storage key; ignored")))
                log.info("usb: %s is not a mass-storage key; ignored", report.key)
            reports.append(report)
            self.reports.append(report)
            if self._on_report is not None:
                self._on_report(report)
        return reports

    def start(self) -> None:
        """Poll in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="usb-key-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a watcher thread must survive one bad key
                log.exception("usb: unexpected error while polling keys")
            self._stop.wait(self._interval)
