"""Fixtures: an emulated USB bus selected through FLEETFLASH_USB_BACKEND, key images built
from real signed bundles, and a running gateway (build_gateway) with a [usb] section."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.usbkey import EmulatedKey, EmulatedUsbBackend, KeyFaults
from gateway.store import AlertRecord, GatewayStore
from tests.integration.media.usbkey_images import make_fat_key, make_iso_key
from tests.integration.usb_intake import usbkit


@pytest.fixture
def usb_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedUsbBackend]:
    """The emulated USB bus the gateway under test will poll."""
    monkeypatch.setenv("FLEETFLASH_USB_BACKEND", usbkit.BACKEND_SPEC)
    yield usbkit.install_backend()
    usbkit.uninstall_backend()


def key_image(directory: Path, bundle: Path, layout: str, name: str = "key") -> Path:
    """A key image holding `bundle`: "iso-key" (the key is the ISO) or "fat-key" (FAT16
    volume with the bundle as a long-named .iso file next to a README)."""
    image = directory / f"{name}-{layout}.img"
    if layout == "iso-key":
        return make_iso_key(image, bundle)
    return make_fat_key(image, {"README.TXT": b"fleet update key",
                                "Fleet-Update-2026Q4.iso": bundle.read_bytes()},
                        size=max(16 << 20, bundle.stat().st_size * 2 + (4 << 20)))


@dataclass
class Plugger:
    bus: EmulatedUsbBackend

    def plug(self, image: Path, faults: str = "", key: EmulatedKey | None = None
             ) -> EmulatedKey:
        return self.bus.plug(key or EmulatedKey(str(image), KeyFaults.parse(faults)))


@pytest.fixture
def plugger(usb_bus: EmulatedUsbBackend) -> Plugger:
    return Plugger(usb_bus)


def usb_alerts(store: GatewayStore) -> list[AlertRecord]:
    """Alerts recorded on the usb channel, oldest first."""
    return [a for a in reversed(store.list_alerts(1000)) if a.channel == "usb"]


def staged_files(staging: Path) -> list[str]:
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


WaitFor = Callable[[Callable[[], bool]], bool]
