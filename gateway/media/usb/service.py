"""Building the USB key watcher from the [usb] configuration section."""

from __future__ import annotations

import usb.backend

from gateway.config import GatewayConfig
from gateway.media.config import usb_config
from gateway.media.usb.discovery import backend_from_environment
from gateway.media.usb.source import Publish, UsbKeySource
from gateway.media.usb.watcher import UsbKeyWatcher


def build_usb_watcher(config: GatewayConfig, publish: Publish, *,
                      backend: usb.backend.IBackend | None = None) -> UsbKeyWatcher:
    """A (not yet started) watcher publishing verified bundles under [usb] source.

    `backend` defaults to the one FLEETFLASH_USB_BACKEND names. Raises
    MediaConfigError for a missing or invalid [usb] section and UsbKeyError for an
    unusable backend setting.
    """
    settings = usb_config(config)
    source = UsbKeySource(settings.source, settings.trusted_keys, settings.staging_dir, publish)
    chosen = backend if backend is not None else backend_from_environment()
    return UsbKeyWatcher(source, chosen, interval_s=settings.poll_interval_s)
