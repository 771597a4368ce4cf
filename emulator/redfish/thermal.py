"""Chassis/1/ThermalSubsystem (with ThermalMetrics and Fans) and the deprecated Thermal."""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.bmc import CHASSIS_URI
from emulator.redfish.common import json_response, not_found
from emulator.redfish.documents import OK_STATUS, collection, ref, refs, resource
from emulator.redfish.power import current_readings
from emulator.sensors import FAN_COUNT

blueprint = Blueprint("thermal", __name__)

SUBSYSTEM_URI = f"{CHASSIS_URI}/ThermalSubsystem"
METRICS_URI = f"{SUBSYSTEM_URI}/ThermalMetrics"
FANS_URI = f"{SUBSYSTEM_URI}/Fans"
THERMAL_URI = f"{CHASSIS_URI}/Thermal"


@blueprint.get(SUBSYSTEM_URI)
def thermal_subsystem() -> Response:
    return json_response(resource(
        SUBSYSTEM_URI, "#ThermalSubsystem.v1_5_0.ThermalSubsystem", "ThermalSubsystem",
        "Thermal Subsystem", **refs(SUBSYSTEM_URI, "ThermalMetrics", "Fans"), Status=OK_STATUS,
    ))


@blueprint.get(METRICS_URI)
def thermal_metrics() -> Response:
    now = current_readings()
    summary = {"Intake": now.intake_c, "Exhaust": now.exhaust_c, "Internal": now.cpu_c,
               "Ambient": now.intake_c}
    return json_response(resource(
        METRICS_URI, "#ThermalMetrics.v1_3_2.ThermalMetrics", "ThermalMetrics",
        "Chassis Thermal Metrics",
        TemperatureSummaryCelsius={where: {"Reading": c} for where, c in summary.items()},
    ))


@blueprint.get(FANS_URI)
def fans() -> Response:
    return json_response(collection(FANS_URI, "FanCollection", "Fans",
                                    [f"{FANS_URI}/{i}" for i in range(FAN_COUNT)]))


@blueprint.get(f"{FANS_URI}/<fan_id>")
def fan(fan_id: str) -> Response:
    if not fan_id.isdigit() or int(fan_id) >= FAN_COUNT:
        raise not_found("Fan", fan_id)
    index = int(fan_id)
    now = current_readings()
    return json_response(resource(
        f"{FANS_URI}/{index}", "#Fan.v1_6_0.Fan", str(index), f"System fan {index}",
        SpeedPercent={"Reading": now.fan_percent[index], "SpeedRPM": now.fan_rpm(index)},
        Status=OK_STATUS,
    ))


@blueprint.get(THERMAL_URI)
def thermal() -> Response:
    now = current_readings()
    temperatures = [
        ("Inlet", now.intake_c, 42.0), ("Exhaust", now.exhaust_c, 70.0),
        ("CPU", now.cpu_c, 95.0),
    ]
    return json_response(resource(
        THERMAL_URI, "#Thermal.v1_7_3.Thermal", "Thermal", "Thermal",
        Temperatures=[
            {**ref(f"{THERMAL_URI}#/Temperatures/{i}"), "MemberId": str(i),
             "Name": f"{name} temperature", "ReadingCelsius": value,
             "UpperThresholdNonCritical": limit - 10, "UpperThresholdCritical": limit - 5,
             "UpperThresholdFatal": limit, "Status": OK_STATUS}
            for i, (name, value, limit) in enumerate(temperatures)
        ],
        Fans=[
            {**ref(f"{THERMAL_URI}#/Fans/{i}"), "MemberId": str(i), "Name": f"System fan {i}",
             "Reading": now.fan_rpm(i), "ReadingUnits": "RPM", "Status": OK_STATUS}
            for i in range(FAN_COUNT)
        ],
    ))
