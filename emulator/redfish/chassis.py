"""/redfish/v1/Chassis: the enclosure of the host: identity, indicator LED, sensors' links.

The readings themselves are served by emulator/redfish/power.py and thermal.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from emulator.bmc import CHASSIS_URI, MANAGER_URI, SYSTEM_URI
from emulator.errors import RedfishError
from emulator.redfish.common import bmc, check_properties
from emulator.redfish.documents import (
    OK_STATUS,
    host_identity,
    ref,
    refs,
    resource,
    serve,
    serve_collection,
)

blueprint = Blueprint("chassis", __name__)

INDICATOR_STATES = ("Lit", "Blinking", "Off")
MAX_ASSET_TAG = 64


def chassis_document() -> dict[str, Any]:
    current = bmc()
    return resource(
        CHASSIS_URI, "#Chassis.v1_28_0.Chassis", "1", f"{current.model} chassis",
        ChassisType="RackMount",
        **host_identity(current),
        SKU=current.model,
        PartNumber=f"{current.model}-CH",
        AssetTag=current.asset_tag,
        PowerState=current.power_state(),
        IndicatorLED=current.indicator_led,
        LocationIndicatorActive=current.indicator_led != "Off",
        Status=OK_STATUS,
        **refs(CHASSIS_URI, "PowerSubsystem", "ThermalSubsystem", "Power", "Thermal",
               "EnvironmentMetrics", "Sensors", "Controls"),
        Links={"ComputerSystems": [ref(SYSTEM_URI)], "ManagedBy": [ref(MANAGER_URI)]},
    )


def update_chassis(document: dict[str, Any]) -> None:
    """IndicatorLED (deprecated) and LocationIndicatorActive are one LED; AssetTag is free text."""
    writable = {"IndicatorLED": str, "LocationIndicatorActive": bool, "AssetTag": str}
    check_properties(document, writable, read_only=chassis_document().keys() - writable.keys(),
                     choices={"IndicatorLED": INDICATOR_STATES})
    led = document.get("IndicatorLED")
    active = document.get("LocationIndicatorActive")
    if led is not None and active is not None and (led != "Off") != active:
        raise RedfishError(400, "PropertyValueConflict", "LocationIndicatorActive",
                           "IndicatorLED")
    tag = document.get("AssetTag")
    if tag is not None and (len(tag) > MAX_ASSET_TAG or not tag.isprintable()):
        raise RedfishError(400, "PropertyValueFormatError", tag[:80], "AssetTag")
    current = bmc()
    with current.lock:
        if active is not None and led is None:
            led = "Blinking" if active else "Off"
        if led is not None:
            current.indicator_led = led
        if tag is not None:
            current.asset_tag = tag


serve(blueprint, CHASSIS_URI, chassis_document, update_chassis)
serve_collection(blueprint, "/redfish/v1/Chassis", "ChassisCollection", "Chassis",
                 lambda: [CHASSIS_URI])
