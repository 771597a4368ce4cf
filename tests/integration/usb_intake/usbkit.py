"""The emulated USB bus a test gateway sees, selected the documented way.

`gateway serve` and `build_gateway` pick their pyusb backend from
FLEETFLASH_USB_BACKEND=MODULE:FACTORY. In-process tests point it at
`current_backend` below, so the test can plug and unplug keys on the very
backend the running gateway's watcher polls.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from emulator.usbkey import EmulatedUsbBackend

BACKEND_SPEC = "tests.integration.usb_intake.usbkit:current_backend"
USB_SOURCE = "usb-key"
_current: EmulatedUsbBackend | None = None


def current_backend() -> EmulatedUsbBackend:
    """The factory FLEETFLASH_USB_BACKEND names in these tests."""
    if _current is None:
        raise ValueError("no emulated USB bus installed for this test")
    return _current


def install_backend() -> EmulatedUsbBackend:
    """A fresh, empty emulated bus (keys are plugged by the test)."""
    global _current
    _current = EmulatedUsbBackend([])
    return _current


def uninstall_backend() -> None:
    global _current
    _current = None


def usb_section(trusted_key: Path, staging_dir: Path, poll_interval_s: float = 0.1) -> str:
    """A [usb] section for the gateway TOML."""
    return textwrap.dedent(f"""
        [usb]
        source = "{USB_SOURCE}"
        trusted_keys = ["{trusted_key}"]
        staging_dir = "{staging_dir}"
        poll_interval_s = {poll_interval_s}
        """)
