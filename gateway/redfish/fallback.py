"""Versions of a BMC without UpdateService.FirmwareInventory (sushy-tools, older BMCs).

Some link a FirmwareInventory that answers 404 (sushy-tools); both count as none.
Such a BMC still reports two versions elsewhere: ``ComputerSystem.BiosVersion``
(component BIOS) and ``Manager.FirmwareVersion`` (component BMC, from the
manager that manages the system). They are read only when there is no
FirmwareInventory, and a node whose versions came from here is verified from
here too (docs/interop.md, "no-firmware-inventory").
"""

from __future__ import annotations

from typing import Any

from gateway.domain.inventory import FirmwareComponent
from gateway.redfish.common import link, member_links
from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import translated

FIRMWARE_INVENTORY = "FirmwareInventory"
BIOS_SOURCE = "ComputerSystem.BiosVersion"
BMC_SOURCE = "Manager.FirmwareVersion"


def manager_uri(conn: FleetConnector, system: dict[str, Any],
                root: dict[str, Any]) -> str | None:
    """The manager of ``system``: its Links.ManagedBy, else the only member of Managers."""
    managed_by = (system.get("Links") or {}).get("ManagedBy")
    if isinstance(managed_by, list):
        for entry in managed_by:
            if isinstance(entry, dict) and isinstance(entry.get("@odata.id"), str):
                return str(entry["@odata.id"])
    managers = link(root, "Managers")
    if managers is None:
        return None
    with translated("reading Managers"):
        members = member_links(conn.get(managers).json())
    return members[0] if len(members) == 1 else None


def read_fallback(conn: FleetConnector, system: dict[str, Any], manager: str | None,
                  why: str = "no FirmwareInventory"
                  ) -> tuple[tuple[FirmwareComponent, ...], str]:
    """The BIOS and BMC versions this BMC reports outside FirmwareInventory, and a
    sentence saying why (``why``) and where each came from (or that it was not
    reported)."""
    found: dict[str, str] = {}
    bios = system.get("BiosVersion")
    if isinstance(bios, str) and bios.strip():
        found["BIOS"] = bios.strip()
    firmware = None
    if manager is not None:
        with translated("reading the manager"):
            firmware = conn.get(manager).json().get("FirmwareVersion")
        if isinstance(firmware, str) and firmware.strip():
            found["BMC"] = firmware.strip()
    tried = [
        f"BIOS from {BIOS_SOURCE} ({_said(found.get('BIOS'))})",
        f"BMC from {BMC_SOURCE} ("
        + (_said(found.get("BMC")) if manager is not None else "no manager found") + ")",
    ]
    source = f"fallback ({why}): " + "; ".join(tried)
    components = tuple(FirmwareComponent(component, version)
                       for component, version in sorted(found.items()))
    return components, source


def _said(value: str | None) -> str:
    return repr(value) if value is not None else "not reported"
