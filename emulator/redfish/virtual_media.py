"""The virtual CD, under the Manager and under the System.

Older BMCs list VirtualMedia under the Manager, newer ones (iDRAC >= 6,
others) under the System, and clients look in one place or the other (sushy's
``System.virtual_media``, Ironic tries both): both collections show the same
drive with the same state, each under its own URI.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response

from emulator.accounts import Privilege
from emulator.bmc import MANAGER_URI, SYSTEM_URI
from emulator.errors import RedfishError
from emulator.redfish.common import (
    bmc,
    check_action,
    conflict_when_busy,
    json_response,
    not_found,
    read_json,
    read_json_optional,
    requires,
)
from emulator.redfish.documents import collection, refuse_unknown_actions

blueprint = Blueprint("virtual_media", __name__)

OWNERS = {"Managers": MANAGER_URI, "Systems": SYSTEM_URI}
MEDIA_ROUTE = "/redfish/v1/<any(Managers, Systems):owner>/1/VirtualMedia"
CD_ROUTE = f"{MEDIA_ROUTE}/CD"
INSERT_ACTION = "VirtualMedia.InsertMedia"
EJECT_ACTION = "VirtualMedia.EjectMedia"
TRANSFER_PROTOCOLS = ("HTTP", "HTTPS")


def media_uri(owner_uri: str) -> str:
    return f"{owner_uri}/VirtualMedia"


@blueprint.get(MEDIA_ROUTE)
def virtual_media_collection(owner: str) -> Response:
    uri = media_uri(OWNERS[owner])
    return json_response(collection(uri, "VirtualMediaCollection", "Virtual Media", [f"{uri}/CD"]))


@blueprint.get(f"{MEDIA_ROUTE}/<media_id>")
def virtual_media(owner: str, media_id: str) -> Response:
    if media_id != "CD":
        raise not_found("VirtualMedia", media_id)
    cd_uri = f"{media_uri(OWNERS[owner])}/CD"
    media = bmc().media
    image_name = urlsplit(media.image).path.rsplit("/", 1)[-1] if media.image else None
    return json_response(
        {
            "@odata.id": cd_uri,
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
                **({f"#{INSERT_ACTION}": {"target": f"{cd_uri}/Actions/{INSERT_ACTION}"}}
                   if bmc().insert_media_action else {}),
                f"#{EJECT_ACTION}": {"target": f"{cd_uri}/Actions/{EJECT_ACTION}"},
            },
        }
    )


@blueprint.post(f"{CD_ROUTE}/Actions/{INSERT_ACTION}")
@requires(Privilege.CONFIGURE_COMPONENTS)
def insert_media(owner: str) -> Response:
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
    with conflict_when_busy():
        bmc().insert_media(
            image,
            write_protected=document.get("WriteProtected", True),
            protocol=document.get("TransferProtocolType", scheme),
            method=document.get("TransferMethod", "Stream"),
        )
    return json_response(None, 204)


@blueprint.post(f"{CD_ROUTE}/Actions/{EJECT_ACTION}")
@requires(Privilege.CONFIGURE_COMPONENTS)
def eject_media(owner: str) -> Response:
    document = read_json_optional()
    check_action(EJECT_ACTION, document, {})
    bmc().eject_media()
    return json_response(None, 204)


refuse_unknown_actions(blueprint, CD_ROUTE, Privilege.CONFIGURE_COMPONENTS)

