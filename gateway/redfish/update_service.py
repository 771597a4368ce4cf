"""/redfish/v1/UpdateService: capabilities, FirmwareInventory, SimpleUpdate, multipart push.

Action targets and push URIs are read from the service's payload, never
built by hand (a BMC may put them anywhere).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from gateway.domain.inventory import FirmwareComponent
from gateway.redfish.common import health_from, link, member_links
from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import (
    NotSupportedError,
    RequestRejectedError,
    ResourceMissingError,
    translated,
)
from gateway.redfish.tasks import TaskRef, task_ref_from

LOG = logging.getLogger(__name__)

SIMPLE_UPDATE = "#UpdateService.SimpleUpdate"
# Redfish OperationApplyTime values, in the order we list them.
APPLY_TIMES = ("Immediate", "OnReset", "AtMaintenanceWindowStart",
               "InMaintenanceWindowOnReset", "OnStartUpdateRequest", "OnTargetReset")


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def simple_update_action(service: dict[str, Any]) -> dict[str, Any] | None:
    """The SimpleUpdate action object (with ``target``), or None when not offered."""
    actions = service.get("Actions")
    action = actions.get(SIMPLE_UPDATE) if isinstance(actions, dict) else None
    if isinstance(action, dict) and isinstance(action.get("target"), str):
        return action
    return None


def transfer_protocols(service: dict[str, Any]) -> tuple[str, ...]:
    """SimpleUpdate's TransferProtocol@Redfish.AllowableValues (empty if unconstrained)."""
    action = simple_update_action(service) or {}
    return tuple(_strings(action.get("TransferProtocol@Redfish.AllowableValues")))


def multipart_push_uri(service: dict[str, Any]) -> str | None:
    uri = service.get("MultipartHttpPushUri")
    return uri if isinstance(uri, str) and uri else None


def apply_times(service: dict[str, Any]) -> tuple[str, ...]:
    """Supported OperationApplyTime values, gathered where Redfish lets a service say so:
    the SimpleUpdate action's and MultipartHttpPushUri's @Redfish.OperationApplyTimeSupport,
    and HttpPushUriOptions.HttpPushUriApplyTime.ApplyTime@Redfish.AllowableValues."""
    found: set[str] = set()
    action = simple_update_action(service) or {}
    for annotation in (action.get("@Redfish.OperationApplyTimeSupport"),
                       service.get("MultipartHttpPushUri@Redfish.OperationApplyTimeSupport")):
        if isinstance(annotation, dict):
            found.update(_strings(annotation.get("SupportedValues")))
    options = service.get("HttpPushUriOptions", {})
    if isinstance(options, dict):
        push_apply = options.get("HttpPushUriApplyTime", {})
        if isinstance(push_apply, dict):
            found.update(_strings(push_apply.get("ApplyTime@Redfish.AllowableValues")))
    known = [t for t in APPLY_TIMES if t in found]
    return (*known, *sorted(found - set(APPLY_TIMES)))


def max_image_size(service: dict[str, Any]) -> int | None:
    size = service.get("MaxImageSizeBytes")
    return size if isinstance(size, int) and size > 0 else None


# Status.State of a FirmwareInventory member that holds an image which is not running:
# a staged update waiting for its reset, a backup bank, OpenBMC's other image, Dell's
# Previous- member (docs/interop.md, staged images and "Vendor quirks").
INACTIVE_STATES = frozenset({"StandbySpare", "StandbyOffline", "Disabled", "Absent"})


def is_running_image(member: dict[str, Any]) -> bool:
    """False for a member describing an image that does not run now (staged, backup):
    its Version is not the component's installed version."""
    status = member.get("Status")
    return not (isinstance(status, dict) and status.get("State") in INACTIVE_STATES)


def component_name(member: dict[str, Any]) -> str:
    """What a member is: its Id, unless the Id embeds the member's Version (Dell's
    ``Installed-<n>-<version>`` changes with every update): then its Name. Never an Id
    that may change (docs/interop.md, "inventory-ids-embed-version")."""
    ident = str(member["Id"])
    version = str(member.get("Version") or "")
    name = member.get("Name")
    if version and f"-{version}" in ident and isinstance(name, str) and name.strip():
        return name.strip()
    return ident


def running_members(bodies: Iterable[tuple[str, dict[str, Any]]]
                    ) -> dict[str, tuple[str, dict[str, Any]]]:
    """Component name -> (URI, member) of the running image of each component; inactive
    members are left out, and of two running ones the Updateable one wins."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for uri, body in bodies:
        if not is_running_image(body):
            continue
        name = component_name(body)
        if name in found and not body.get("Updateable", True):
            continue
        found[name] = (uri, body)
    return found


def component_from(member: dict[str, Any]) -> FirmwareComponent:
    """A FirmwareInventory member, named by what it is (see component_name)."""
    return FirmwareComponent(
        id=component_name(member),
        version=str(member.get("Version") or ""),
        updateable=bool(member.get("Updateable", True)),
        health=health_from(member.get("Status")),
    )


def read_service(conn: FleetConnector, root_json: dict[str, Any]) -> dict[str, Any]:
    """GET the UpdateService named by the service root; NotSupportedError if there is none."""
    target = link(root_json, "UpdateService")
    if target is None:
        raise NotSupportedError("the BMC has no UpdateService")
    with translated("reading UpdateService"):
        body: dict[str, Any] = conn.get(target).json()
    return body


def read_firmware(conn: FleetConnector, service: dict[str, Any]) -> tuple[FirmwareComponent, ...]:
    """Every FirmwareInventory member, sorted by component name."""
    return read_firmware_members(conn, service)[1]


def read_firmware_members(conn: FleetConnector, service: dict[str, Any]
                          ) -> tuple[dict[str, str], tuple[FirmwareComponent, ...]]:
    """Component name -> URI of its running FirmwareInventory member, and every running
    member sorted by component name."""
    target = link(service, "FirmwareInventory")
    if target is None:
        raise NotSupportedError("the UpdateService has no FirmwareInventory")
    try:
        bodies = _member_bodies(conn, target)
    except ResourceMissingError:
        # A member vanished between the listing and its read (a staged image the host
        # reset has just activated, docs/interop.md): listed afresh, once. Only a 404
        # of the listing itself means the BMC has no FirmwareInventory.
        bodies = _member_bodies(conn, target)
    with translated("reading FirmwareInventory"):
        running = running_members(bodies)
        components = [component_from(body) for _uri, body in running.values()]
    return ({name: uri for name, (uri, _body) in running.items()},
            tuple(sorted(components, key=lambda c: c.id)))


def _member_bodies(conn: FleetConnector, target: str) -> list[tuple[str, dict[str, Any]]]:
    with translated("reading FirmwareInventory"):
        members = member_links(conn.get(target).json())
    with translated("reading FirmwareInventory"):
        return [(member, conn.get(member).json()) for member in members]


def _apply_time_parameter(service: dict[str, Any], apply_time: str | None) -> dict[str, str]:
    if apply_time is None:
        return {}
    supported = apply_times(service)
    if supported and apply_time not in supported:
        raise RequestRejectedError(
            f"apply time {apply_time!r} not supported by the BMC (it offers {list(supported)})"
        )
    return {"@Redfish.OperationApplyTime": apply_time}


def simple_update(conn: FleetConnector, service: dict[str, Any], image_uri: str, *,
                  targets: Sequence[str] = (), protocol: str | None = None,
                  apply_time: str | None = None, force: bool = False,
                  credentials: tuple[str, str] | None = None) -> TaskRef | None:
    """POST SimpleUpdate: the BMC pulls ``image_uri``. Returns the task, or None if done.

    ``protocol``: TransferProtocol to send; by default the URI's scheme when the
    BMC lists allowable values, else omitted. ``credentials``: (user, password)
    the BMC presents to the image server (sushy masks Password in its logs).
    Raises NotSupportedError when the action is missing or the protocol is not
    allowed.
    """
    action = simple_update_action(service)
    if action is None:
        raise NotSupportedError("the BMC does not offer UpdateService.SimpleUpdate")
    allowed = transfer_protocols(service)
    # Always named, and always Targets too (an empty list: the BMC decides): some BMCs
    # refuse a SimpleUpdate without either, although both are optional (sushy always
    # sends TransferProtocol; docs/interop.md, "Vendor quirks").
    wanted = protocol or image_uri.split(":", 1)[0].upper()
    if allowed and wanted not in allowed:
        raise NotSupportedError(
            f"SimpleUpdate does not allow TransferProtocol {wanted} (it allows {list(allowed)})"
        )
    payload: dict[str, Any] = {"ImageURI": image_uri, "TransferProtocol": wanted,
                               "Targets": list(targets)}
    if force:
        payload["ForceUpdate"] = True
    if credentials is not None:
        payload["Username"], payload["Password"] = credentials
    payload.update(_apply_time_parameter(service, apply_time))
    with translated("starting SimpleUpdate", strict=True):
        response = conn.post(action["target"], data=payload)
        return task_ref_from(response)


def multipart_push(conn: FleetConnector, service: dict[str, Any], chunks: Iterable[bytes],
                   size: int, *, filename: str = "image.iso", targets: Sequence[str] = (),
                   apply_time: str | None = None, force: bool = False,
                   timeout: float | None = None) -> TaskRef | None:
    """POST the image to MultipartHttpPushUri, streamed. Returns the task, or None if done.

    ``size``: exact byte count of ``chunks``. Raises NotSupportedError when the
    BMC has no MultipartHttpPushUri, RequestRejectedError when it refuses the
    image (e.g. above MaxImageSizeBytes).
    """
    uri = multipart_push_uri(service)
    if uri is None:
        raise NotSupportedError("the BMC does not offer MultipartHttpPushUri")
    limit = max_image_size(service)
    if limit is not None and size > limit:
        raise RequestRejectedError(
            f"image of {size} bytes exceeds the BMC's MaxImageSizeBytes {limit}"
        )
    parameters: dict[str, Any] = {"Targets": list(targets)}
    if force:
        parameters["ForceUpdate"] = True
    parameters.update(_apply_time_parameter(service, apply_time))
    with translated("pushing the image (multipart)", strict=True):
        response = conn.post_multipart(uri, parameters, filename, chunks, size, timeout)
        return task_ref_from(response)
