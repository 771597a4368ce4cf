"""The interface every host backend implements.

A BMC manages one host. The BMC logic (power, boot override, virtual media,
firmware state) talks to its host only through this interface, so a lab can
swap libvirt's embedded test driver for a real QEMU/KVM daemon without the
Redfish layer noticing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class PowerState(StrEnum):
    """Redfish PowerState values a backend can report."""

    ON = "On"
    OFF = "Off"


class BootDevice(StrEnum):
    """Where the host boots first; values are Redfish BootSourceOverrideTarget names."""

    HDD = "Hdd"
    CD = "Cd"
    PXE = "Pxe"


@dataclass(frozen=True)
class FirmwareRecord:
    """Firmware state persisted with the host, so it survives an emulator restart.

    installed: component name (e.g. "BIOS") -> version string.
    pending: component name -> version staged to activate at the next host reset.
    """

    installed: Mapping[str, str] = field(default_factory=dict)
    pending: Mapping[str, str] = field(default_factory=dict)


class HostBackend(ABC):
    """One backend serves every host of the cluster; hosts are addressed by name.

    Every method raises BackendError (or its NotSupported subclass) on failure;
    names are the ones passed to ensure_host().
    """

    @abstractmethod
    def ensure_host(self, name: str, *, memory_mib: int = 64, vcpus: int = 1) -> str:
        """Create the host if it does not exist (powered off); return its UUID."""

    @abstractmethod
    def power_state(self, name: str) -> PowerState:
        """The host's current power state."""

    @abstractmethod
    def power_on(self, name: str) -> None:
        """Start the host; no-op if it is already on."""

    @abstractmethod
    def power_off(self, name: str, *, graceful: bool) -> None:
        """Stop the host (ACPI shutdown when graceful); no-op if already off."""

    @abstractmethod
    def set_boot_order(self, name: str, first: BootDevice) -> None:
        """Make ``first`` the first boot device, effective from the next start."""

    @abstractmethod
    def set_cdrom(self, name: str, image_url: str | None) -> None:
        """Point the host's CD-ROM at an http(s) image URL, or empty it (None)."""

    @abstractmethod
    def cdrom(self, name: str) -> str | None:
        """The image URL currently in the host's CD-ROM, or None."""

    @abstractmethod
    def read_firmware(self, name: str) -> FirmwareRecord | None:
        """Firmware state stored with the host, or None if never written."""

    @abstractmethod
    def write_firmware(self, name: str, record: FirmwareRecord) -> None:
        """Persist firmware state with the host."""

    @abstractmethod
    def remove_host(self, name: str) -> None:
        """Stop and undefine the host (used when a cluster is torn down)."""

    @abstractmethod
    def close(self) -> None:
        """Release the backend's connection."""
