"""Which pyusb backend to use, and which attached devices are mass-storage keys.

The backend is chosen here and only here (FLEETFLASH_USB_BACKEND):
- unset or "libusb": pyusb's default backend (real hardware);
- "MODULE:FACTORY": FACTORY() from an importable module returns an
  usb.backend.IBackend, e.g. "emulator.usbkey:backend_from_env" for the
  emulated keys listed in FLEETFLASH_EMULATED_KEYS. The gateway never imports
  the emulator itself; the lab or the test names it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping

import usb.backend
import usb.core

from gateway.media.usb.bot import MASS_STORAGE
from gateway.media.usb.errors import UsbKeyError

BACKEND_ENV = "FLEETFLASH_USB_BACKEND"


def backend_from_environment(environ: Mapping[str, str] | None = None
                             ) -> usb.backend.IBackend | None:
    """The configured backend, or None for pyusb's default. Raises UsbKeyError if unusable."""
    spec = (environ if environ is not None else os.environ).get(BACKEND_ENV, "").strip()
    if spec in ("", "libusb"):
        return None
    module_name, sep, factory_name = spec.partition(":")
    if not sep or not module_name or not factory_name:
        raise UsbKeyError(f"{BACKEND_ENV} must be 'libusb' or 'MODULE:FACTORY' (got {spec!r})")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
        backend = factory()
    except (ImportError, AttributeError, ValueError, OSError) as exc:
        raise UsbKeyError(f"{BACKEND_ENV}={spec!r} cannot be used: {exc}") from exc
    if not isinstance(backend, usb.backend.IBackend):
        raise UsbKeyError(f"{BACKEND_ENV}={spec!r} did not return a pyusb backend")
    return backend


def is_mass_storage(device: usb.core.Device) -> bool:
    """True when any interface is Bulk-Only SCSI mass storage (08/06/50)."""
    try:
        return any(
            (i.bInterfaceClass, i.bInterfaceSubClass, i.bInterfaceProtocol) == MASS_STORAGE
            for config in device for i in config)
    except (usb.core.USBError, NotImplementedError, IndexError):
        return False


def attached_devices(backend: usb.backend.IBackend | None) -> list[usb.core.Device]:
    """Every USB device the backend sees. Raises UsbKeyError when no backend is available."""
    try:
        return list(usb.core.find(find_all=True, backend=backend))
    except usb.core.NoBackendError as exc:
        raise UsbKeyError("no USB backend available (install libusb-1.0-0 or set "
                          f"{BACKEND_ENV})") from exc
    except usb.core.USBError as exc:
        raise UsbKeyError(f"cannot enumerate USB devices: {exc}") from exc
