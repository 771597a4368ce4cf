"""Chassis/1/Sensors, Chassis/1/EnvironmentMetrics and Chassis/1/Controls.

Sensors carry the same readings as PowerSubsystem and ThermalSubsystem
(emulator/sensors.py). The BMC has no power-capping control, so Controls is
an empty collection.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from emulator.bmc import CHASSIS_URI
from emulator.redfish.common import json_response, not_found
from emulator.redfish.documents import OK_STATUS, collection, resource, serve_collection
from emulator.redfish.power import current_readings
from emulator.sensors import FAN_COUNT, Readings

blueprint = Blueprint("chassis_sensors", __name__)

SENSORS_URI = f"{CHASSIS_URI}/Sensors"
CONTROLS_URI = f"{CHASSIS_URI}/Controls"
METRICS_URI = f"{CHASSIS_URI}/EnvironmentMetrics"


def _sensors(now: Readings) -> dict[str, dict[str, Any]]:
    """id -> the Sensor properties that vary (ReadingType, Reading, units, name, context)."""
    table: dict[str, dict[str, Any]] = {
        "PowerConsumption": {"Name": "Chassis power", "ReadingType": "Power",
                             "Reading": now.power_watts, "ReadingUnits": "W",
                             "PhysicalContext": "Chassis"},
        "InletTemp": {"Name": "Inlet temperature", "ReadingType": "Temperature",
                      "Reading": now.intake_c, "ReadingUnits": "Cel", "PhysicalContext": "Intake"},
        "ExhaustTemp": {"Name": "Exhaust temperature", "ReadingType": "Temperature",
                        "Reading": now.exhaust_c, "ReadingUnits": "Cel",
                        "PhysicalContext": "Exhaust"},
        "CPUTemp": {"Name": "CPU temperature", "ReadingType": "Temperature",
                    "Reading": now.cpu_c, "ReadingUnits": "Cel", "PhysicalContext": "CPU"},
    }
    for index in range(FAN_COUNT):
        table[f"Fan{index}"] = {"Name": f"System fan {index}", "ReadingType": "Percent",
                                "Reading": now.fan_percent[index], "ReadingUnits": "%",
                                "PhysicalContext": "Fan", "SpeedRPM": now.fan_rpm(index)}
    return table


@blueprint.get(SENSORS_URI)
def sensors() -> Response:
    ids = _sensors(current_readings())
    return json_response(collection(SENSORS_URI, "SensorCollection", "Sensors",
                                    [f"{SENSORS_URI}/{i}" for i in ids]))


@blueprint.get(f"{SENSORS_URI}/<sensor_id>")
def sensor(sensor_id: str) -> Response:
    found = _sensors(current_readings()).get(sensor_id)
    if found is None:
        raise not_found("Sensor", sensor_id)
    return json_response(resource(f"{SENSORS_URI}/{sensor_id}", "#Sensor.v1_12_0.Sensor",
                                  sensor_id, found.pop("Name"), Status=OK_STATUS, **found))


@blueprint.get(METRICS_URI)
def environment_metrics() -> Response:
    now = current_readings()
    return json_response(resource(
        METRICS_URI, "#EnvironmentMetrics.v1_5_0.EnvironmentMetrics", "EnvironmentMetrics",
        "Chassis Environment Metrics",
        PowerWatts={"Reading": now.power_watts,
                    "DataSourceUri": f"{SENSORS_URI}/PowerConsumption"},
        TemperatureCelsius={"Reading": now.intake_c, "DataSourceUri": f"{SENSORS_URI}/InletTemp"},
    ))


serve_collection(blueprint, CONTROLS_URI, "ControlCollection", "Controls", list)
