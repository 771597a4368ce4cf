"""/redfish/v1/Managers: the BMC itself (firmware version, restart).

Its VirtualMedia collection is served by emulator/redfish/virtual_media.py.
"""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import BMC_RESET_TYPES, CHASSIS_URI, MANAGER_URI, SYSTEM_URI, BusyError
from emulator.errors import RedfishError
from emulator.redfish.common import (
    bmc,
    check_action,
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


@blueprint.get(MANAGER_URI)
def manager() -> Response:
    current = bmc()
    return json_response(
        {
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
            "VirtualMedia": {"@odata.id": f"{MANAGER_URI}/VirtualMedia"},
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
    )


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
