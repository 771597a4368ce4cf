"""`fleetflash usb ...`: look at the USB keys attached to this machine.

The backend comes from FLEETFLASH_USB_BACKEND (see gateway.media.usb.discovery);
for emulated keys:

    FLEETFLASH_USB_BACKEND=emulator.usbkey:backend_from_env \\
    FLEETFLASH_EMULATED_KEYS=/path/key.img fleetflash usb scan
"""

from __future__ import annotations

import click

from gateway.media.usb.discovery import (
    attached_devices,
    backend_from_environment,
    is_mass_storage,
)
from gateway.media.usb.errors import UsbKeyError
from gateway.media.usb.source import describe_device, scan_key


@click.group()
def usb() -> None:
    """USB mass-storage keys as an update source."""


@usb.command()
def scan() -> None:
    """List attached USB keys and the update bundles on them (nothing is copied)."""
    try:
        devices = attached_devices(backend_from_environment())
    except UsbKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    shown = 0
    for device in devices:
        if not is_mass_storage(device):
            click.echo(f"{describe_device(device)}  not a mass-storage key; ignored")
            continue
        shown += 1
        report = scan_key(device)
        size = f"{report.capacity_bytes / 1e6:.1f} MB" if report.capacity_bytes else "?"
        click.echo(f"{report.key}  {size}")
        if report.error:
            click.echo(f"  error: {report.error}")
        for bundle in report.found:
            click.echo(f"  bundle {bundle.name}  {bundle.size} bytes")
    if not shown:
        click.echo("no USB mass-storage keys found")
