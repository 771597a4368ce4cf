"""/redfish/v1/Chassis: the enclosure of the host (identity and links only)."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.bmc import CHASSIS_URI, MANAGER_URI, SYSTEM_URI
from emulator.redfish.common import bmc, collection, json_response

blueprint = Blueprint("chassis", __name__)


@blueprint.get("/redfish/v1/Chassis")
def chassis_collection() -> Response:
    return json_response(
        collection("/redfish/v1/Chassis", "ChassisCollection", "Chassis", [CHASSIS_URI])
    )


@blueprint.get(CHASSIS_URI)
def chassis() -> Response:
    current = bmc()
    return json_response(
        {
            "@odata.id": CHASSIS_URI,
            "@odata.type": "#Chassis.v1_28_0.Chassis",
            "Id": "1",
            "Name": f"{current.model} chassis",
            "ChassisType": "RackMount",
            "Manufacturer": current.manufacturer,
            "Model": current.model,
            "SerialNumber": current.serial,
            "PowerState": current.power_state(),
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {
                "ComputerSystems": [{"@odata.id": SYSTEM_URI}],
                "ManagedBy": [{"@odata.id": MANAGER_URI}],
            },
        }
    )
