"""Chassis/1/PowerSubsystem (current) and Chassis/1/Power (deprecated, still read by tools)."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.bmc import CHASSIS_URI
from emulator.redfish.common import bmc, json_response
from emulator.redfish.documents import OK_STATUS, ref, resource
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
    return json_response(resource(
        SUBSYSTEM_URI, "#PowerSubsystem.v1_1_3.PowerSubsystem", "PowerSubsystem",
        "Power Subsystem",
        CapacityWatts=now.capacity_watts,
        Allocation={"RequestedWatts": now.limit_watts, "AllocatedWatts": now.limit_watts},
        Status=OK_STATUS,
    ))


@blueprint.get(POWER_URI)
def power() -> Response:
    now = current_readings()
    control = {
        **ref(f"{POWER_URI}#/PowerControl/0"), "MemberId": "0", "Name": "Chassis power",
        "PowerConsumedWatts": now.power_watts, "PowerCapacityWatts": now.capacity_watts,
        "PowerLimit": {"LimitInWatts": None, "LimitException": "NoAction"}, "Status": OK_STATUS,
    }
    return json_response(resource(POWER_URI, "#Power.v1_7_3.Power", "Power", "Power",
                                  PowerControl=[control]))
