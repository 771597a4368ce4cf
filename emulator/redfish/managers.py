"""/redfish/v1/Managers: the BMC itself (firmware version, restart).

Its VirtualMedia collection is served by emulator/redfish/virtual_media.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from emulator.accounts import Privilege
from emulator.bmc import BMC_RESET_TYPES, CHASSIS_URI, MANAGER_URI, SYSTEM_URI
from emulator.errors import RedfishError
from emulator.redfish.common import (
    bmc,
    check_properties,
)
from emulator.redfish.documents import (
    OK_STATUS,
    ref,
    refs,
    reset_action,
    resource,
    serve,
    serve_collection,
)

blueprint = Blueprint("managers", __name__)

RESET_ACTION = "Manager.Reset"
_RESET = reset_action(blueprint, MANAGER_URI, RESET_ACTION, BMC_RESET_TYPES,
                      Privilege.CONFIGURE_MANAGER,
                      lambda reset_type: bmc().restart_bmc(f"Manager.Reset {reset_type}"))


def manager_document() -> dict[str, Any]:
    current = bmc()
    return resource(
        MANAGER_URI, "#Manager.v1_24_0.Manager", "1", f"{current.model} BMC",
        ManagerType="BMC",
        Manufacturer=current.manufacturer,
        Model=current.personality.manager_model.format(model=current.model),
        UUID=current.uuid,
        FirmwareVersion=current.firmware.installed().get("BMC", ""),
        PowerState="On",
        Status=OK_STATUS,
        DateTime=current.clock.now(),
        DateTimeLocalOffset=current.clock.local_offset,
        **refs(MANAGER_URI, *(() if "vmedia-under-systems" in current.quirks
                              else ("VirtualMedia",)),
               "NetworkProtocol", "EthernetInterfaces", "LogServices"),
        Actions=_RESET,
        Links={"ManagerForServers": [ref(SYSTEM_URI)], "ManagerForChassis": [ref(CHASSIS_URI)]},
        **({"Oem": current.personality.oem_document()} if current.personality.oem else {}),
    )


def update_manager(document: dict[str, Any]) -> None:
    """DateTime and DateTimeLocalOffset set the BMC's clock (emulator/clock.py)."""
    writable = {"DateTime": str, "DateTimeLocalOffset": str}
    check_properties(document, writable, read_only=manager_document().keys() - writable.keys())
    try:
        bmc().clock.set(document.get("DateTime"), document.get("DateTimeLocalOffset"))
    except ValueError as exc:
        name = str(exc)
        raise RedfishError(400, "PropertyValueFormatError", document[name], name) from None


serve(blueprint, MANAGER_URI, manager_document, update_manager, Privilege.CONFIGURE_MANAGER)
serve_collection(blueprint, "/redfish/v1/Managers", "ManagerCollection", "Managers",
                 lambda: [MANAGER_URI])

