"""Chassis/1/PowerSubsystem (current) and Chassis/1/Power (deprecated, still read by tools)."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.bmc import CHASSIS_URI
from emulator.redfish.common import bmc, json_response
from emulator.sensors import Readings, readings

blueprint = Blueprint("power", __name__)

SUBSYSTEM_URI = f"{CHASSIS_URI}/PowerSubsystem"
POWER_URI = f"{CHASSIS_URI}/Power"


def current_readings() -> Readings:
    current = bmc()
    return readings(current.model, current.power_state(), current.id)


@blueprint.get(SUBSYSTEM_URI)
def power_subsystem() -> Response:
    now = current_readings()
    return json_response(
        {
            "@odata.id": SUBSYSTEM_URI,
            "@odata.type": "#PowerSubsystem.v1_1_3.PowerSubsystem",
            "Id": "PowerSubsystem",
            "Name": "Power Subsystem",
            "CapacityWatts": now.capacity_watts,
            "Allocation": {"RequestedWatts": now.limit_watts, "AllocatedWatts": now.limit_watts},
            "Status": {"State": "Enabled", "Health": "OK"},
        }
    )


@blueprint.get(POWER_URI)
def power() -> Response:
    now = current_readings()
    return json_response(
        {
            "@odata.id": POWER_URI,
            "@odata.type": "#Power.v1_7_3.Power",
            "Id": "Power",
            "Name": "Power",
            "PowerControl": [
                {
                    "@odata.id": f"{POWER_URI}#/PowerControl/0",
                    "MemberId": "0",
                    "Name": "Chassis power",
                    "PowerConsumedWatts": now.power_watts,
                    "PowerCapacityWatts": now.capacity_watts,
                    "PowerLimit": {"LimitInWatts": None, "LimitException": "NoAction"},
                    "Status": {"State": "Enabled", "Health": "OK"},
                }
            ],
        }
    )
