"""Host backends behind one interface; ``open_backend`` is the one place that picks one."""

from __future__ import annotations

from emulator.backends.base import BootDevice, FirmwareRecord, HostBackend, PowerState
from emulator.errors import BackendError, NotSupported

__all__ = [
    "BackendError",
    "BootDevice",
    "FirmwareRecord",
    "HostBackend",
    "NotSupported",
    "PowerState",
    "open_backend",
]


def open_backend(
    libvirt_uri: str = "test:///default", *, prefix: str = "fleetflash-",
    try_kvm: bool | None = None,
) -> HostBackend:
    """Open the host backend for a libvirt URI (test:///default, qemu:///system, ...).

    ``try_kvm``: see LibvirtBackend. Raises BackendError if the connection cannot
    be opened.
    """
    from emulator.backends.libvirt_backend import LibvirtBackend

    return LibvirtBackend(libvirt_uri, prefix=prefix, try_kvm=try_kvm)
