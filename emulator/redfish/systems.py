"""/redfish/v1/Systems: the host this BMC manages (power, reset, boot override)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import (
    BOOT_ENABLED,
    CHASSIS_URI,
    HOST_RESET_TYPES,
    MANAGER_URI,
    SYSTEM_URI,
)
from emulator.errors import RedfishError
from emulator.faults import FaultKind
from emulator.redfish.common import (
    bmc,
    check_properties,
    json_response,
)
from emulator.redfish.documents import (
    host_identity,
    ref,
    reset_action,
    resource,
    serve,
    serve_collection,
)

blueprint = Blueprint("systems", __name__)

RESET_ACTION = "ComputerSystem.Reset"
_RESET = reset_action(blueprint, SYSTEM_URI, RESET_ACTION, HOST_RESET_TYPES,
                      Privilege.CONFIGURE_COMPONENTS,
                      lambda reset_type: bmc().reset_host(reset_type))
BOOT_MODES = ("UEFI", "Legacy")


def _extra_systems() -> list[str]:
    """The ids of the extra_systems fault's read-only hosts ("2", "3", ...)."""
    fault = bmc().faults.active(FaultKind.EXTRA_SYSTEMS)
    return [str(n) for n in range(2, 2 + int(fault.params["systems"]))] if fault else []


def _system_members() -> list[str]:
    bmc().count("walk")  # where a client's discovery of the BMC starts
    return [SYSTEM_URI, *(f"/redfish/v1/Systems/{i}" for i in _extra_systems())]


serve_collection(blueprint, "/redfish/v1/Systems", "ComputerSystemCollection",
                 "Computer Systems", _system_members)


@blueprint.get("/redfish/v1/Systems/<system_id>")
def extra_system(system_id: str) -> Response:
    """Another host behind this root (extra_systems fault): same model, its own serial
    and BiosVersion, no actions (nothing is ever updated on it)."""
    if system_id not in _extra_systems():
        raise RedfishError(404, "ResourceNotFound", "ComputerSystem", system_id)
    document = system_document()
    uri = f"/redfish/v1/Systems/{system_id}"
    document.update({"@odata.id": uri, "Id": system_id, "Name": f"{document['Name']} {system_id}",
                     "SerialNumber": f"{bmc().serial}-{system_id}",
                     "BiosVersion": f"0.{system_id}.0", "PowerState": "On", "Actions": {}})
    document["Boot"] = {"BootSourceOverrideTarget": "None",
                        "BootSourceOverrideEnabled": "Disabled"}
    return json_response(document)


def system_document() -> dict[str, object]:
    current = bmc()
    return resource(
        SYSTEM_URI, "#ComputerSystem.v1_27_0.ComputerSystem", "1", f"{current.model} host",
        SystemType="Physical",
        **host_identity(current),
        UUID=current.uuid,
        PowerState=current.power_state(),
        BiosVersion=current.firmware.installed().get("BIOS", ""),
        Status={"State": "Starting" if current.host_transition else "Enabled", "Health": "OK"},
        Boot={
            "BootSourceOverrideTarget": current.boot.target,
            "BootSourceOverrideTarget@Redfish.AllowableValues": list(current.boot_targets()),
            "BootSourceOverrideEnabled": current.boot.enabled,
            "BootSourceOverrideMode": current.boot.mode,
        },
        VirtualMedia=ref(f"{SYSTEM_URI}/VirtualMedia"),
        LogServices=ref(f"{SYSTEM_URI}/LogServices"),
        Actions=_RESET,
        Links={"Chassis": [ref(CHASSIS_URI)], "ManagedBy": [ref(MANAGER_URI)]},
    )


def update_system(document: dict[str, Any]) -> None:
    """The boot override (target, once or continuous, mode); the rest is read-only."""
    check_properties(document, {"Boot": dict}, read_only=system_document().keys() - {"Boot"})
    boot = document.get("Boot", {})
    check_properties(
        boot,
        {"BootSourceOverrideTarget": str, "BootSourceOverrideEnabled": str,
         "BootSourceOverrideMode": str},
        choices={"BootSourceOverrideTarget": bmc().boot_targets(),
                 "BootSourceOverrideEnabled": BOOT_ENABLED,
                 "BootSourceOverrideMode": BOOT_MODES},
    )
    bmc().set_boot_override(
        boot.get("BootSourceOverrideTarget"),
        boot.get("BootSourceOverrideEnabled"),
        boot.get("BootSourceOverrideMode"),
    )


serve(blueprint, SYSTEM_URI, system_document, update_system)

