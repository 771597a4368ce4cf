"""Inventory facts about a node, as read from its BMC (plain data, no I/O).

The Redfish adapter (gateway.redfish) builds these; the planner, applicability
and reports consume them. FirmwareInventory member ids are component names
(e.g. "BIOS", "BMC"), matching the bundle manifest's ``component``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.domain.cluster import Health


class PowerState(StrEnum):
    """Redfish ComputerSystem.PowerState; UNKNOWN when the BMC does not say."""

    ON = "On"
    OFF = "Off"
    POWERING_ON = "PoweringOn"
    POWERING_OFF = "PoweringOff"
    PAUSED = "Paused"
    UNKNOWN = "Unknown"


class HealthStatus(StrEnum):
    """Redfish Status.Health; UNKNOWN when absent."""

    OK = "OK"
    WARNING = "Warning"
    CRITICAL = "Critical"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class FirmwareComponent:
    """One FirmwareInventory member: ``id`` is the component name, ``version`` as installed."""

    id: str
    version: str
    updateable: bool = True
    health: HealthStatus = HealthStatus.UNKNOWN


@dataclass(frozen=True)
class UpdateCapabilities:
    """What the BMC offers for delivering an update.

    ``multipart_push``: UpdateService.MultipartHttpPushUri; ``http_push``: the older
    HttpPushUri (the image as the raw POST body), used for the push when the first is
    missing.
    ``transfer_protocols``: SimpleUpdate's allowed TransferProtocol values
    (empty when the BMC lists none; ``simple_update`` still says whether the
    action exists). ``apply_times``: supported OperationApplyTime values.
    ``virtual_media_cd``: a VirtualMedia slot accepts CD/DVD images.
    ``virtual_media_insert``: that slot can be loaded (it offers InsertMedia, or
    PATCH); a slot without it cannot take the update CD.
    ``max_image_size``: UpdateService.MaxImageSizeBytes, bytes, None if unstated.
    ``version_source``: where the versions were read: "FirmwareInventory", or a
    sentence starting "fallback" naming each fallback property read or tried (a BMC
    without FirmwareInventory); VERIFY reads the same source again.
    """

    simple_update: bool = False
    transfer_protocols: tuple[str, ...] = ()
    multipart_push: bool = False
    virtual_media_cd: bool = False
    virtual_media_insert: bool = True
    apply_times: tuple[str, ...] = ()
    max_image_size: int | None = None
    version_source: str = "FirmwareInventory"
    http_push: bool = False  # last: the fields before it are also given by position

    @property
    def firmware_inventory(self) -> bool:
        return self.version_source == "FirmwareInventory"


@dataclass(frozen=True)
class SystemFacts:
    """What the BMC's ComputerSystem says about the host: identity, power and health."""

    system_id: str
    model: str
    serial: str
    manufacturer: str
    power_state: PowerState
    health: HealthStatus


@dataclass(frozen=True)
class NodeInventory(SystemFacts):
    """Everything the gateway knows about one node after reading its BMC: the system's
    facts, its firmware and what its update service can do."""

    firmware: tuple[FirmwareComponent, ...]
    capabilities: UpdateCapabilities

    @classmethod
    def of(cls, facts: SystemFacts, firmware: tuple[FirmwareComponent, ...],
           capabilities: UpdateCapabilities) -> NodeInventory:
        return cls(facts.system_id, facts.model, facts.serial, facts.manufacturer,
                   facts.power_state, facts.health, firmware, capabilities)

    def installed_versions(self) -> dict[str, str]:
        """Component name → installed version, the input of applicable_packages()."""
        return {component.id: component.version for component in self.firmware}

    def observed_health(self, *, require_power_on: bool = True) -> Health:
        """UP when the BMC reports no Critical health and (unless ``require_power_on``
        is False, for clusters whose spare hosts are kept off) the host is powered on."""
        if self.health is HealthStatus.CRITICAL:
            return Health.DOWN
        if require_power_on and self.power_state is not PowerState.ON:
            return Health.DOWN
        return Health.UP
