"""The virtual CD, under the Manager and under the System.

Older BMCs list VirtualMedia under the Manager, newer ones (iDRAC >= 6,
others) under the System, and clients look in one place or the other (sushy's
``System.virtual_media``, Ironic tries both): both collections show the same
drive with the same state, each under its own URI. With the
``vmedia-under-systems`` quirk the drive is only under the System (the
Manager neither links nor serves it), as on iDRAC >= 6.

Other quirks (emulator/quirks.py) shape the actions: ``vmedia-insert-needs-inserted``
(Lenovo) refuses an insert without ``Inserted: true``;
``vmedia-insert-rejects-inserted-writeprotected`` (Supermicro) refuses one with either;
``vmedia-eject-needs-empty-body`` (iLO) refuses an eject with no body at all (``{}`` is
fine); sushy's virtual_media.py records all three. ``vmedia-insert-action-info`` makes
InsertMedia carry ``@Redfish.ActionInfo``: a resource listing the parameters this BMC
takes, which are required and their allowable values, as the others shape them.
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
ACTION_INFO_QUIRK = "vmedia-insert-action-info"
ACTION_INFO_ID = "InsertMediaActionInfo"


def media_uri(owner_uri: str) -> str:
    return f"{owner_uri}/VirtualMedia"


def _owner_uri(owner: str) -> str:
    """The owner's URI; 404 for the Manager of a BMC that keeps its media under Systems."""
    if owner == "Managers" and "vmedia-under-systems" in bmc().quirks:
        raise not_found("VirtualMediaCollection", "VirtualMedia")
    return OWNERS[owner]


def _check_insert_quirks(document: dict[str, object]) -> None:
    """A payload quirk's refusal, recorded in the audit log (``media_insert_refused``) so
    that a client that guessed the payload wrong shows."""
    quirks = bmc().quirks
    refusal: RedfishError | None = None
    if "vmedia-insert-needs-inserted" in quirks and document.get("Inserted") is not True:
        refusal = RedfishError(400, "ActionParameterMissing", INSERT_ACTION, "Inserted")
    if "vmedia-insert-rejects-inserted-writeprotected" in quirks:
        for name in ("Inserted", "WriteProtected"):
            if name in document:
                refusal = RedfishError(400, "ActionParameterNotSupported", name, INSERT_ACTION)
    if refusal is not None:
        bmc().audit.record(bmc().id, "media_insert_refused", image=document.get("Image"),
                           reason=refusal.message_id)
        raise refusal


@blueprint.get(MEDIA_ROUTE)
def virtual_media_collection(owner: str) -> Response:
    uri = media_uri(_owner_uri(owner))
    return json_response(collection(uri, "VirtualMediaCollection", "Virtual Media", [f"{uri}/CD"]))


@blueprint.get(f"{MEDIA_ROUTE}/<media_id>")
def virtual_media(owner: str, media_id: str) -> Response:
    if media_id != "CD":
        raise not_found("VirtualMedia", media_id)
    cd_uri = f"{media_uri(_owner_uri(owner))}/CD"
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
                **({f"#{INSERT_ACTION}": {"target": f"{cd_uri}/Actions/{INSERT_ACTION}",
                                          **_action_info_link(cd_uri)}}
                   if bmc().insert_media_action else {}),
                f"#{EJECT_ACTION}": {"target": f"{cd_uri}/Actions/{EJECT_ACTION}"},
            },
        }
    )


def _action_info_link(cd_uri: str) -> dict[str, str]:
    if ACTION_INFO_QUIRK not in bmc().quirks:
        return {}
    return {"@Redfish.ActionInfo": f"{cd_uri}/{ACTION_INFO_ID}"}


def _insert_parameters() -> list[dict[str, object]]:
    """InsertMedia's parameters as this BMC takes them (its other quirks decide)."""
    quirks = bmc().quirks

    def parameter(name: str, kind: str, required: bool = False,
                  allowed: tuple[str, ...] = ()) -> dict[str, object]:
        found: dict[str, object] = {"Name": name, "Required": required, "DataType": kind}
        return {**found, "AllowableValues": list(allowed)} if allowed else found

    found = [parameter("Image", "String", required=True)]
    if "vmedia-insert-rejects-inserted-writeprotected" not in quirks:
        found += [parameter("Inserted", "Boolean",
                            required="vmedia-insert-needs-inserted" in quirks),
                  parameter("WriteProtected", "Boolean")]
    return [*found, parameter("UserName", "String"), parameter("Password", "String"),
            parameter("TransferProtocolType", "String", allowed=TRANSFER_PROTOCOLS),
            parameter("TransferMethod", "String", allowed=("Stream",))]


@blueprint.get(f"{CD_ROUTE}/{ACTION_INFO_ID}")
def insert_media_action_info(owner: str) -> Response:
    """The ActionInfo of InsertMedia (the vmedia-insert-action-info quirk): its
    parameters, which are required and their allowable values, told truthfully."""
    cd_uri = f"{media_uri(_owner_uri(owner))}/CD"
    if ACTION_INFO_QUIRK not in bmc().quirks or not bmc().insert_media_action:
        raise not_found("ActionInfo", ACTION_INFO_ID)
    return json_response({
        "@odata.id": f"{cd_uri}/{ACTION_INFO_ID}",
        "@odata.type": "#ActionInfo.v1_3_0.ActionInfo",
        "Id": ACTION_INFO_ID, "Name": "InsertMedia Action Info",
        "Parameters": _insert_parameters(),
    })


@blueprint.post(f"{CD_ROUTE}/Actions/{INSERT_ACTION}")
@requires(Privilege.CONFIGURE_COMPONENTS)
def insert_media(owner: str) -> Response:
    _owner_uri(owner)
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
    _check_insert_quirks(document)
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
    _owner_uri(owner)
    if "vmedia-eject-needs-empty-body" in bmc().quirks:
        document = read_json()  # no body at all: 400 MalformedJSON, as iLO answers
    else:
        document = read_json_optional()
    check_action(EJECT_ACTION, document, {})
    bmc().eject_media()
    return json_response(None, 204)


refuse_unknown_actions(blueprint, CD_ROUTE, Privilege.CONFIGURE_COMPONENTS)

