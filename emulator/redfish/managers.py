"""/redfish/v1/Managers: the BMC itself (firmware version, restart) and its VirtualMedia."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, request

from emulator.accounts import Privilege
from emulator.bmc import BMC_RESET_TYPES, CHASSIS_URI, MANAGER_URI, SYSTEM_URI, BusyError
from emulator.errors import RedfishError
from emulator.redfish.common import (
    bmc,
    check_action,
    collection,
    json_response,
    not_found,
    read_json,
    requires,
)

blueprint = Blueprint("managers", __name__)

RESET_ACTION = "Manager.Reset"
MEDIA_URI = f"{MANAGER_URI}/VirtualMedia"
CD_URI = f"{MEDIA_URI}/CD"
INSERT_ACTION = "VirtualMedia.InsertMedia"
EJECT_ACTION = "VirtualMedia.EjectMedia"
TRANSFER_PROTOCOLS = ("HTTP", "HTTPS")


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
            "VirtualMedia": {"@odata.id": MEDIA_URI},
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


@blueprint.get(MEDIA_URI)
def virtual_media_collection() -> Response:
    return json_response(
        collection(MEDIA_URI, "VirtualMediaCollection", "Virtual Media", [CD_URI])
    )


@blueprint.get(f"{MEDIA_URI}/<media_id>")
def virtual_media(media_id: str) -> Response:
    if media_id != "CD":
        raise not_found("VirtualMedia", media_id)
    media = bmc().media
    image_name = urlsplit(media.image).path.rsplit("/", 1)[-1] if media.image else None
    return json_response(
        {
            "@odata.id": CD_URI,
            "@odata.type": "#VirtualMedia.v1_6_5.VirtualMedia",
            "Id": "CD",
            "Name": "Virtual CD",
            "MediaTypes": ["CD", "DVD"],
            "Image": media.image,
            "ImageName": image_name,
            "Inserted": media.inserted,
            "WriteProtected": media.write_protected,
            "ConnectedVia": "URI" if media.image else "NotConnected",
            "TransferProtocolType": media.transfer_protocol,
            "TransferMethod": media.transfer_method,
            "Actions": {
                **({f"#{INSERT_ACTION}": {"target": f"{CD_URI}/Actions/{INSERT_ACTION}"}}
                   if bmc().insert_media_action else {}),
                f"#{EJECT_ACTION}": {"target": f"{CD_URI}/Actions/{EJECT_ACTION}"},
            },
        }
    )


@blueprint.post(f"{CD_URI}/Actions/{INSERT_ACTION}")
@requires(Privilege.CONFIGURE_COMPONENTS)
def insert_media() -> Response:
    if not bmc().insert_media_action:
        raise RedfishError(400, "ActionNotSupported", INSERT_ACTION)
    document = read_json()
    check_action(
        INSERT_ACTION, document,
        {"Image": str, "Inserted": bool, "WriteProtected": bool, "TransferProtocolType": str,
         "TransferMethod": str, "UserName": str, "Password": str},
        choices={"TransferProtocolType": TRANSFER_PROTOCOLS, "TransferMethod": ("Stream",)},
        required=["Image"],
    )
    image = document["Image"]
    scheme = urlsplit(image).scheme.upper()
    if scheme not in TRANSFER_PROTOCOLS or not urlsplit(image).hostname:
        raise RedfishError(400, "ActionParameterValueFormatError", image, "Image", INSERT_ACTION)
    if document.get("Inserted", True) is False:
        raise RedfishError(400, "ActionParameterValueNotInList", "false", "Inserted",
                           INSERT_ACTION)
    try:
        bmc().insert_media(
            image,
            write_protected=document.get("WriteProtected", True),
            protocol=document.get("TransferProtocolType", scheme),
            method=document.get("TransferMethod", "Stream"),
        )
    except BusyError:
        raise RedfishError(409, "ResourceInUse") from None
    return json_response(None, 204)


@blueprint.post(f"{CD_URI}/Actions/{EJECT_ACTION}")
@requires(Privilege.CONFIGURE_COMPONENTS)
def eject_media() -> Response:
    document = read_json() if _has_body() else {}
    check_action(EJECT_ACTION, document, {})
    bmc().eject_media()
    return json_response(None, 204)


@blueprint.post(f"{CD_URI}/Actions/<path:name>")
@requires(Privilege.CONFIGURE_COMPONENTS)
def unknown_media_action(name: str) -> Response:
    raise RedfishError(400, "ActionNotSupported", name)


def _has_body() -> bool:
    return bool(request.get_data(cache=True).strip())
