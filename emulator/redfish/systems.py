"""/redfish/v1/Systems: the host this BMC manages (power, reset, boot override)."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import (
    BOOT_ENABLED,
    BOOT_TARGETS,
    CHASSIS_URI,
    HOST_RESET_TYPES,
    MANAGER_URI,
    SYSTEM_URI,
    BusyError,
)
from emulator.errors import RedfishError
from emulator.faults import FaultKind
from emulator.redfish.common import (
    bmc,
    check_action,
    check_properties,
    collection,
    json_response,
    read_json,
    requires,
)

blueprint = Blueprint("systems", __name__)

RESET_ACTION = "ComputerSystem.Reset"
BOOT_MODES = ("UEFI", "Legacy")


def _extra_systems() -> list[str]:
    """The ids of the extra_systems fault's read-only hosts ("2", "3", ...)."""
    fault = bmc().faults.active(FaultKind.EXTRA_SYSTEMS)
    return [str(n) for n in range(2, 2 + int(fault.params["systems"]))] if fault else []


@blueprint.get("/redfish/v1/Systems")
def systems() -> Response:
    members = [SYSTEM_URI] + [f"/redfish/v1/Systems/{i}" for i in _extra_systems()]
    return json_response(
        collection("/redfish/v1/Systems", "ComputerSystemCollection", "Computer Systems",
                   members)
    )


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
    power = current.power_state()
    installed = current.firmware.installed()
    state = "Starting" if current.host_transition else "Enabled"
    return {
        "@odata.id": SYSTEM_URI,
        "@odata.type": "#ComputerSystem.v1_27_0.ComputerSystem",
        "Id": "1",
        "Name": f"{current.model} host",
        "SystemType": "Physical",
        "Manufacturer": current.manufacturer,
        "Model": current.model,
        "SerialNumber": current.serial,
        "UUID": current.uuid,
        "PowerState": power,
        "BiosVersion": installed.get("BIOS", ""),
        "Status": {"State": state, "Health": "OK"},
        "Boot": {
            "BootSourceOverrideTarget": current.boot.target,
            "BootSourceOverrideTarget@Redfish.AllowableValues": list(BOOT_TARGETS),
            "BootSourceOverrideEnabled": current.boot.enabled,
            "BootSourceOverrideMode": current.boot.mode,
        },
        "VirtualMedia": {"@odata.id": f"{SYSTEM_URI}/VirtualMedia"},
        "LogServices": {"@odata.id": f"{SYSTEM_URI}/LogServices"},
        "Actions": {
            f"#{RESET_ACTION}": {
                "target": f"{SYSTEM_URI}/Actions/{RESET_ACTION}",
                "ResetType@Redfish.AllowableValues": list(HOST_RESET_TYPES),
            }
        },
        "Links": {
            "Chassis": [{"@odata.id": CHASSIS_URI}],
            "ManagedBy": [{"@odata.id": MANAGER_URI}],
        },
    }


@blueprint.get(SYSTEM_URI)
def system() -> Response:
    return json_response(system_document())


@blueprint.patch(SYSTEM_URI)
@requires(Privilege.CONFIGURE_COMPONENTS)
def patch_system() -> Response:
    document = read_json()
    check_properties(document, {"Boot": dict}, read_only=system_document().keys() - {"Boot"})
    boot = document.get("Boot", {})
    check_properties(
        boot,
        {"BootSourceOverrideTarget": str, "BootSourceOverrideEnabled": str,
         "BootSourceOverrideMode": str},
        choices={"BootSourceOverrideTarget": BOOT_TARGETS,
                 "BootSourceOverrideEnabled": BOOT_ENABLED,
                 "BootSourceOverrideMode": BOOT_MODES},
    )
    bmc().set_boot_override(
        boot.get("BootSourceOverrideTarget"),
        boot.get("BootSourceOverrideEnabled"),
        boot.get("BootSourceOverrideMode"),
    )
    return json_response(system_document())


@blueprint.post(f"{SYSTEM_URI}/Actions/{RESET_ACTION}")
@requires(Privilege.CONFIGURE_COMPONENTS)
def reset() -> Response:
    document = read_json()
    check_action(RESET_ACTION, document, {"ResetType": str},
                 choices={"ResetType": HOST_RESET_TYPES}, required=["ResetType"])
    try:
        bmc().reset_host(document["ResetType"])
    except BusyError:
        raise RedfishError(409, "ResourceInUse") from None
    return json_response(None, 204)


@blueprint.post(f"{SYSTEM_URI}/Actions/<path:name>")
@requires(Privilege.CONFIGURE_COMPONENTS)
def unknown_action(name: str) -> Response:
    raise RedfishError(400, "ActionNotSupported", name)
