"""/redfish/v1/UpdateService: SimpleUpdate, multipart push and FirmwareInventory.

Both update paths answer 202 Accepted with Location: the task monitor, and a
body holding the task; the update itself runs in emulator/firmware. The
task-location-only, task-in-body-only and task-empty-202 quirks give the other
shapes of that answer real BMCs give (emulator/quirks.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request

from emulator.accounts import Privilege
from emulator.bmc import INVENTORY_URI, MANAGER_URI, SYSTEM_URI
from emulator.errors import RedfishError
from emulator.faults import FaultKind
from emulator.firmware.engine import UPDATE_TASK_NAME, FirmwareEngine, UpdateRequest
from emulator.messages import message
from emulator.redfish import update_quirks as quirks
from emulator.redfish.common import bmc, check_action, existing, json_response, read_json, requires
from emulator.redfish.documents import (
    OK_STATUS,
    action,
    collection,
    post_action,
    ref,
    refuse_unknown_actions,
    resource,
)
from emulator.tasks import Task, TaskState

blueprint = Blueprint("update_service", __name__)

SERVICE_URI = "/redfish/v1/UpdateService"
SOFTWARE_URI = f"{SERVICE_URI}/SoftwareInventory"
PUSH_URI = f"{SERVICE_URI}/upload"
HTTP_PUSH_URI = f"{SERVICE_URI}/update"  # bmcweb's HttpPushUri (emulator/redfish/http_push.py)
SIMPLE_UPDATE = "UpdateService.SimpleUpdate"
APPLY_TIMES = ("Immediate", "OnReset")
ENGINE_KEY = "fleetflash.firmware_engine"


def engine() -> FirmwareEngine:
    found: FirmwareEngine = current_app.config[ENGINE_KEY]
    return found


def _check_inventory_offered() -> None:
    """The no_firmware_inventory fault or quirk: this BMC keeps its versions elsewhere."""
    if quirks.inventory_hidden(bmc()):
        raise RedfishError(404, "ResourceNotFound", "Resource", request.path)


@blueprint.get(SERVICE_URI)
def update_service() -> Response:
    document = service_document()
    if quirks.inventory_unlinked(bmc()):
        del document["FirmwareInventory"], document["SoftwareInventory"]
    return json_response(document)


def service_document() -> dict[str, Any]:
    return resource(
        SERVICE_URI, "#UpdateService.v1_17_0.UpdateService", "UpdateService", "Update Service",
        ServiceEnabled=True,
        Status=OK_STATUS,
        MaxImageSizeBytes=engine().max_image_bytes,
        **quirks.multipart_fields(bmc(), PUSH_URI),
        **quirks.http_push_fields(bmc(), HTTP_PUSH_URI, APPLY_TIMES),
        FirmwareInventory=ref(INVENTORY_URI),
        SoftwareInventory=ref(SOFTWARE_URI),
        Actions=action(SERVICE_URI, SIMPLE_UPDATE, **{
            "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"],
            "@Redfish.OperationApplyTimeSupport": {
                "@odata.type": "#Settings.v1_4_0.OperationApplyTimeSupport",
                "SupportedValues": list(APPLY_TIMES),
            },
        }),
    )


def targets_to_components(targets: Any, action: str) -> frozenset[str] | None:
    """Map Targets URIs to component names (None = everything)."""
    if targets is None or targets == []:
        return None
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise RedfishError(400, "ActionParameterValueTypeError", json.dumps(targets)[:80],
                           "Targets", action)
    installed = bmc().firmware.installed()
    components: set[str] = set()
    for target in targets:
        path = target.rstrip("/")
        if path == SYSTEM_URI:
            components.update(c for c in installed if c != "BMC")
        elif path == MANAGER_URI:
            components.add("BMC")
        elif path.startswith(INVENTORY_URI + "/") and (
                found := quirks.resolve_member(bmc(), path.rsplit("/", 1)[1], installed)):
            components.add(found[0])
        else:
            raise RedfishError(400, "ActionParameterValueNotInList", target, "Targets", action)
    return frozenset(components)


def refuse_if_updating() -> None:
    """One update at a time per BMC, as real BMCs do: two flashes of the same
    component must not interleave. A task Stopping with its image staged has
    finished writing (task-stopping-while-staged): it does not count."""
    current = bmc()
    if any(task.name == UPDATE_TASK_NAME and task.state is not TaskState.STOPPING
           for task in (*current.tasks.running(), *current.jobs.running())):
        raise quirks.busy_refusal(current)


def accepted(task: Task) -> Response:
    """202 with Location and the task in the body, or the shape a quirk asks for; late
    under the update_answer_slow fault (the task runs meanwhile)."""
    slow = bmc().faults.hit(FaultKind.UPDATE_ANSWER_SLOW)
    if slow is not None:
        time.sleep(float(slow.params.get("seconds", 0)))
    quirks = bmc().quirks
    headers = {"Location": task.monitor_uri, "Retry-After": "1"}
    if "task-in-body-only" in quirks:
        del headers["Location"]
    if "task-empty-202" in quirks:
        return json_response(None, 202, headers)
    if "task-location-only" in quirks:
        return json_response({"@Message.ExtendedInfo": [message("Base.Success")]}, 202,
                             headers)
    return json_response(task.to_redfish(), 202, headers)


@post_action(blueprint, SERVICE_URI, SIMPLE_UPDATE, Privilege.CONFIGURE_COMPONENTS)
def simple_update() -> Response:
    bmc().count("update_request")
    document = read_json()
    check_action(
        SIMPLE_UPDATE, document,
        {"ImageURI": str, "TransferProtocol": str, "Targets": list, "ForceUpdate": bool,
         "Username": str, "Password": str, "Stage": bool, "@Redfish.OperationApplyTime": str},
        choices={"TransferProtocol": ("HTTP", "HTTPS"), "Stage": (False,),
                 "@Redfish.OperationApplyTime": APPLY_TIMES},
        required=["ImageURI"],
    )
    quirks.check_simple_update(bmc(), document, SIMPLE_UPDATE)
    refuse_if_updating()
    quirks.refuse_transiently(bmc())
    image = document["ImageURI"]
    parts = urlsplit(image)
    protocol = document.get("TransferProtocol", parts.scheme.upper())
    if parts.scheme.upper() not in ("HTTP", "HTTPS") or not parts.hostname:
        raise RedfishError(400, "ActionParameterValueFormatError", image, "ImageURI",
                           SIMPLE_UPDATE)
    if protocol != parts.scheme.upper():
        raise RedfishError(400, "ActionParameterValueError", "TransferProtocol", SIMPLE_UPDATE)
    update = UpdateRequest(
        source=image,
        image=image,
        components=targets_to_components(document.get("Targets"), SIMPLE_UPDATE),
        force=document.get("ForceUpdate", False),
        apply_time=document.get("@Redfish.OperationApplyTime", "Immediate"),
        username=document.get("Username"),
        password=document.get("Password"),
        body=json.dumps({k: v for k, v in document.items() if k != "Password"}),
    )
    return accepted(engine().start_update(bmc(), update))


refuse_unknown_actions(blueprint, SERVICE_URI, Privilege.CONFIGURE_COMPONENTS)


@blueprint.post(PUSH_URI)
@requires(Privilege.CONFIGURE_COMPONENTS)
def multipart_push() -> Response:
    action = "MultipartHttpPushUri"
    bmc().count("update_request")
    quirks.check_multipart_offered(bmc(), request.path)
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise RedfishError(400, "ActionParameterMissing", action, "UpdateFile")
    upload = request.files.get("UpdateFile")
    if upload is None:
        raise RedfishError(400, "ActionParameterMissing", action, "UpdateFile")
    raw = request.form.get("UpdateParameters")
    if raw is None and "UpdateParameters" in request.files:
        raw = request.files["UpdateParameters"].read().decode("utf-8", "replace")
    try:
        parameters = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        raise RedfishError(400, "MalformedJSON") from None
    if not isinstance(parameters, dict):
        raise RedfishError(400, "MalformedJSON")
    check_action(
        "UpdateParameters", parameters,
        {"Targets": list, "@Redfish.OperationApplyTime": str, "ForceUpdate": bool,
         "Stage": bool},
        choices={"@Redfish.OperationApplyTime": APPLY_TIMES, "Stage": (False,)},
    )
    components = targets_to_components(parameters.get("Targets"), action)
    refuse_if_updating()
    quirks.refuse_transiently(bmc())
    handle, path = tempfile.mkstemp(prefix="fleetflash-upload-", suffix=".iso")
    try:
        with os.fdopen(handle, "wb") as out:
            upload.save(out)
        if os.path.getsize(path) > engine().max_image_bytes:
            raise RedfishError(413, "PayloadTooLarge")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    update = UpdateRequest(
        source=path,
        image=upload.filename or "UpdateFile",
        components=components,
        force=parameters.get("ForceUpdate", False),
        apply_time=parameters.get("@Redfish.OperationApplyTime", "Immediate"),
        cleanup=True,
        body=json.dumps(parameters),
    )
    return accepted(engine().start_update(bmc(), update))


# A staged image (written with apply time OnReset, active at the next host reset) is a
# member of its own, "Staged-<component>", with Status.State StandbySpare and the staged
# Version; the component's own member keeps the running version (docs/interop.md).
STAGED_PREFIX = "Staged-"


@blueprint.get(INVENTORY_URI)
def firmware_inventory() -> Response:
    _check_inventory_offered()
    firmware = bmc().firmware
    members = [f"{INVENTORY_URI}/{m}" for m in quirks.member_ids(bmc(), firmware.installed())]
    members += [f"{INVENTORY_URI}/{STAGED_PREFIX}{c}" for c in sorted(firmware.pending())]
    return json_response(
        collection(INVENTORY_URI, "SoftwareInventoryCollection", "Firmware Inventory", members)
    )


@blueprint.get(f"{INVENTORY_URI}/<member>")
def firmware_item(member: str) -> Response:
    _check_inventory_offered()
    current = bmc()
    current.count("inventory_member")  # a client reading versions (docs/emulator.md)
    component = member.removeprefix(STAGED_PREFIX)
    if component != member:
        version = existing(current.firmware.pending().get(component), "SoftwareInventory",
                           member)
        fields: dict[str, Any] = {
            "Name": f"{component} firmware (staged: active after the next host reset)",
            "Updateable": False, "SoftwareId": f"{current.model}-{component}",
            "Status": {"State": "StandbySpare", "Health": "OK"}}
    else:
        found = quirks.resolve_member(current, member, current.firmware.installed())
        component, version, kind = existing(found, "SoftwareInventory", member)
        fields = quirks.member_fields(current, component, kind)
    related = MANAGER_URI if component == "BMC" else SYSTEM_URI
    return json_response(
        {
            "@odata.id": f"{INVENTORY_URI}/{member}",
            "@odata.type": "#SoftwareInventory.v1_13_0.SoftwareInventory",
            "Id": member,
            "Version": version,
            "WriteProtected": False,
            "Manufacturer": current.manufacturer,
            "RelatedItem": [{"@odata.id": related}],
            **fields,
        }
    )


@blueprint.get(SOFTWARE_URI)
def software_inventory() -> Response:
    _check_inventory_offered()
    return json_response(
        collection(SOFTWARE_URI, "SoftwareInventoryCollection", "Software Inventory", [])
    )
