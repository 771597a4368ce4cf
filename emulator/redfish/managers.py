"""/redfish/v1/Managers: the BMC itself (firmware version, restart).

Its VirtualMedia collection is served by emulator/redfish/virtual_media.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import BMC_RESET_TYPES, CHASSIS_URI, MANAGER_URI, SYSTEM_URI, BusyError
from emulator.errors import RedfishError
from emulator.redfish.common import (
    bmc,
    check_action,
    check_properties,
    collection,
    json_response,
    read_json,
    requires,
)

blueprint = Blueprint("managers", __name__)

RESET_ACTION = "Manager.Reset"


@blueprint.get("/redfish/v1/Managers")
def managers() -> Response:
    return json_response(
        collection("/redfish/v1/Managers", "ManagerCollection", "Managers", [MANAGER_URI])
    )


def manager_document() -> dict[str, Any]:
    current = bmc()
    return {
            "@odata.id": MANAGER_URI,
            "@odata.type": "#Manager.v1_24_0.Manager",
            "Id": "1",
            "Name": f"{current.model} BMC",
            "ManagerType": "BMC",
            "Manufacturer": current.manufacturer,
            "Model": f"{current.model} BMC",
            "UUID": current.uuid,
            "FirmwareVersion": current.firmware.installed().get("BMC", ""),
            "PowerState": "On",
            "Status": {"State": "Enabled", "Health": "OK"},
            "DateTime": current.clock.now(),
            "DateTimeLocalOffset": current.clock.local_offset,
            "VirtualMedia": {"@odata.id": f"{MANAGER_URI}/VirtualMedia"},
            "NetworkProtocol": {"@odata.id": f"{MANAGER_URI}/NetworkProtocol"},
            "EthernetInterfaces": {"@odata.id": f"{MANAGER_URI}/EthernetInterfaces"},
            "LogServices": {"@odata.id": f"{MANAGER_URI}/LogServices"},
            "Actions": {
                f"#{RESET_ACTION}": {
                    "target": f"{MANAGER_URI}/Actions/{RESET_ACTION}",
                    "ResetType@Redfish.AllowableValues": list(BMC_RESET_TYPES),
                }
            },
            "Links": {
                "ManagerForServers": [{"@odata.id": SYSTEM_URI}],
                "ManagerForChassis": [{"@odata.id": CHASSIS_URI}],
            },
        }


@blueprint.get(MANAGER_URI)
def manager() -> Response:
    return json_response(manager_document())


@blueprint.patch(MANAGER_URI)
@requires(Privilege.CONFIGURE_MANAGER)
def patch_manager() -> Response:
    """DateTime and DateTimeLocalOffset set the BMC's clock (emulator/clock.py)."""
    document = read_json()
    writable = {"DateTime": str, "DateTimeLocalOffset": str}
    check_properties(document, writable, read_only=manager_document().keys() - writable.keys())
    try:
        bmc().clock.set(document.get("DateTime"), document.get("DateTimeLocalOffset"))
    except ValueError as exc:
        name = str(exc)
        raise RedfishError(400, "PropertyValueFormatError", document[name], name) from None
    return json_response(manager_document())


@blueprint.post(f"{MANAGER_URI}/Actions/{RESET_ACTION}")
@requires(Privilege.CONFIGURE_MANAGER)
def reset_manager() -> Response:
    document = read_json()
    check_action(RESET_ACTION, document, {"ResetType": str},
                 choices={"ResetType": BMC_RESET_TYPES}, required=["ResetType"])
    try:
        bmc().restart_bmc(f"Manager.Reset {document['ResetType']}")
    except BusyError:
        raise RedfishError(409, "ResourceInUse") from None
    return json_response(None, 204)


@blueprint.post(f"{MANAGER_URI}/Actions/<path:name>")
@requires(Privilege.CONFIGURE_MANAGER)
def unknown_manager_action(name: str) -> Response:
    raise RedfishError(400, "ActionNotSupported", name)
