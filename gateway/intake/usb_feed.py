"""The [usb] source feeding the intake: watch for keys, publish their bundles, record refusals.

`gateway serve` builds this with `build_usb_intake` when the configuration has a
[usb] section and starts its watcher with the gateway. Each verified bundle
copied off a key goes to `LocalBundleIntake.accept` (cache + FWUP0001 on the
`usb` channel); whatever a key could not deliver — a bundle signed by an
untrusted key, a corrupt filesystem, a key pulled out mid-read — is recorded
as a rejected alert with the reason, so `fleetflash alerts list` shows why
nothing happened. Devices that are not mass-storage keys are not recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import usb.backend
import usb.core
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.config import GatewayConfig, SourceConfig
from gateway.intake.local_bundle import (
    LocalBundle,
    LocalBundleIntake,
    local_source,
    with_local_source,
)
from gateway.intake.service import CHANNEL_USB, IntakeService
from gateway.media.cache import ImageCache
from gateway.media.config import usb_config
from gateway.media.usb import (
    KeyReport,
    UsbBundle,
    UsbKeySource,
    UsbKeyWatcher,
    attached_devices,
    backend_from_environment,
)
from gateway.store import Decision, NewAlert, StoreError

LOG = logging.getLogger(__name__)


class RecordingUsbKeySource(UsbKeySource):
    """A UsbKeySource that also records, per mass-storage key, what it could not deliver.

    The watcher calls `import_key` only for mass-storage devices, so a keyboard
    or a hub never leaves a record.
    """

    def __init__(self, local: LocalBundleIntake, trusted_keys: Sequence[Ed25519PublicKey],
                 staging_dir: Path) -> None:
        super().__init__(local.source.name, trusted_keys, staging_dir, self._publish)
        self._local = local

    def import_key(self, device: usb.core.Device) -> KeyReport:
        report = super().import_key(device)
        try:
            self._record_problems(report)
        except StoreError as exc:
            LOG.error("usb: key %s: cannot record its outcome: %s", report.key, exc)
        return report

    def _publish(self, bundle: UsbBundle) -> str:
        """Hand the bundle to the intake; returns its decision for the USB source's log."""
        try:
            outcome = self._local.accept(
                LocalBundle(bundle.path, bundle.sha256, bundle.key, bundle.name))
        except StoreError as exc:
            LOG.error("usb: bundle %s from key %s not recorded: %s", bundle.name, bundle.key,
                      exc)
            return "not recorded (database error)"
        return f"{outcome.decision}: {outcome.reason}" if outcome.reason else outcome.decision

    def _record_problems(self, report: KeyReport) -> None:
        reasons = [f"USB key {report.key}: {line}" for line in report.rejected]
        if report.error is not None:
            reasons.append(f"USB key {report.key}: {report.error}; nothing published")
        for reason in reasons:
            self._local.intake.store.record_alert(NewAlert(
                channel=CHANNEL_USB, decision=Decision.REJECTED, reason=reason,
                source=self.source, indication_identifier=f"{CHANNEL_USB}:{report.key}"))


@dataclass
class UsbIntake:
    """The running USB source: `watcher` polls for keys, `local` receives their bundles."""

    watcher: UsbKeyWatcher
    local: LocalBundleIntake
    key_source: RecordingUsbKeySource

    @property
    def source(self) -> SourceConfig:
        """The [usb] source as the acquisition worker must know it."""
        return self.local.source

    def worker_config(self, config: GatewayConfig) -> GatewayConfig:
        """`config` plus the [usb] source, for the acquisition worker (see local_bundle)."""
        return with_local_source(config, self.source)

    def start(self) -> None:
        """Import keys already plugged in, then every key that appears (daemon thread)."""
        self.watcher.start()

    def stop(self) -> None:
        """Stop watching (a key being read is finished first)."""
        self.watcher.stop()


def build_usb_intake(config: GatewayConfig, intake: IntakeService, cache: ImageCache, *,
                     backend: usb.backend.IBackend | None = None) -> UsbIntake | None:
    """The USB source of `config`'s [usb] section, or None when there is none.

    `backend` defaults to the pyusb backend FLEETFLASH_USB_BACKEND names (the
    emulated keys in tests and labs). Raises MediaConfigError for an invalid
    [usb] section, UsbKeyError for an unusable backend (setting, or no libusb) and
    LocalBundleError when usb.source clashes with a [[sources]] name.
    """
    if config.file.usb is None:
        return None
    settings = usb_config(config)
    local = LocalBundleIntake(intake, cache, local_source(
        settings.source, settings.trusted_key_paths, settings.trusted_keys))
    with_local_source(config, local.source)  # fail at start-up on a name clash
    key_source = RecordingUsbKeySource(local, settings.trusted_keys, settings.staging_dir)
    chosen = backend if backend is not None else backend_from_environment()
    attached_devices(chosen)  # no usable backend is a start-up error, not a warning per poll
    watcher = UsbKeyWatcher(key_source, chosen, interval_s=settings.poll_interval_s)
    return UsbIntake(watcher, local, key_source)
