"""Vendor quirks of update requests and FirmwareInventory (emulator/quirks.py).

Each function is one switch read from ``bmc.quirks``; a BMC without the quirk
behaves as before. The vendor answers are shaped as the public record shows them
(docs/interop.md, "Vendor quirks"): iDRAC's SYS518 as an extended message under a
Base GeneralError, iLO's InvalidOperationForSystemState under iLO.0.10.ExtendedInfo,
Dell's version-bearing inventory Ids, OpenBMC's inactive image.
"""

from __future__ import annotations

import re
import threading
import weakref
import zlib
from dataclasses import dataclass, field
from typing import Any

from flask import abort

from emulator.bmc import Bmc
from emulator.errors import RedfishError
from emulator.faults import FaultKind
from emulator.redfish.common import json_response

SYS518 = "transient-500-sys518"
SYSTEM_STATE = "transient-400-system-state"
IDS_EMBED_VERSION = "inventory-ids-embed-version"
LISTS_STAGED_IMAGE = "inventory-lists-staged-image"
NO_INVENTORY = "no-firmware-inventory"
BUSY_RETRY_AFTER_S = 1

# Update requests refused so far per BMC (the transient quirks answer the first N).
_refusals: weakref.WeakKeyDictionary[Bmc, dict[str, int]] = weakref.WeakKeyDictionary()
_refusals_lock = threading.Lock()


def _take_refusal(bmc: Bmc, quirk: str) -> bool:
    """True while this BMC still refuses update requests under ``quirk`` (counts one)."""
    if quirk not in bmc.quirks:
        return False
    with _refusals_lock:
        seen = _refusals.setdefault(bmc, {})
        if seen.get(quirk, 0) >= bmc.quirks.value(quirk):
            return False
        seen[quirk] = seen.get(quirk, 0) + 1
        return True


def _vendor_error(status: int, code: str, message: str, extended: dict[str, Any]) -> None:
    abort(json_response({"error": {"code": code, "message": message,
                                   "@Message.ExtendedInfo": [extended]}}, status))


def refuse_transiently(bmc: Bmc) -> None:
    """The first N update requests of a BMC with a transient quirk are refused, as iDRAC
    (SYS518: not ready after a previous operation) and iLO (system in POST) do."""
    if _take_refusal(bmc, SYS518):
        _vendor_error(500, "Base.1.12.GeneralError",
                      "A general error has occurred. See ExtendedInfo for more information", {
                          "MessageId": "IDRAC.2.8.SYS518",
                          "Message": "iDRAC not ready. The iDRAC is not ready to accept "
                                     "the request because a previous operation is still "
                                     "running. Wait and retry the operation.",
                          "MessageArgs": [], "Severity": "Critical",
                          "Resolution": "Wait a few minutes and retry the operation."})
    if _take_refusal(bmc, SYSTEM_STATE):
        _vendor_error(400, "iLO.0.10.ExtendedInfo",
                      "See @Message.ExtendedInfo for more information.", {
                          "MessageId": "iLO.2.14.InvalidOperationForSystemState",
                          "MessageArgs": ["UnableToModifyDuringSystemPOST"]})


def check_simple_update(bmc: Bmc, document: dict[str, Any], action: str) -> None:
    """Parameters some BMCs insist on (optional in the schema)."""
    for quirk, parameter in (("simpleupdate-needs-transferprotocol", "TransferProtocol"),
                             ("simpleupdate-needs-targets", "Targets")):
        if quirk in bmc.quirks and parameter not in document:
            raise RedfishError(400, "ActionParameterMissing", action, parameter)


def busy_refusal(bmc: Bmc) -> RedfishError:
    """The answer to an update while another runs: bmcweb's 503 + Retry-After, else 409."""
    if "one-update-at-a-time" in bmc.quirks:
        return RedfishError(503, "ServiceTemporarilyUnavailable", str(BUSY_RETRY_AFTER_S),
                            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})
    return RedfishError(409, "ResourceInUse")


def offers_multipart(bmc: Bmc) -> bool:
    return not ({"no-multipart-push", HTTP_PUSH_ONLY} & set(bmc.quirks.names))


def check_multipart_offered(bmc: Bmc, path: str) -> None:
    if not offers_multipart(bmc):
        raise RedfishError(404, "ResourceNotFound", "Resource", path)


HTTP_PUSH_ONLY = "http-push-only"
PUSH_LOCK = threading.Lock()


@dataclass
class PushSettings:
    """What clients set for the next HttpPushUri push of one BMC (emulator/redfish/http_push.py)."""

    targets: list[str] = field(default_factory=list)
    busy: bool = False
    apply_time: str = "Immediate"


_push_settings: weakref.WeakKeyDictionary[Bmc, PushSettings] = weakref.WeakKeyDictionary()


def offers_http_push(bmc: Bmc) -> bool:
    return HTTP_PUSH_ONLY in bmc.quirks


def push_settings(bmc: Bmc) -> PushSettings:
    with PUSH_LOCK:
        return _push_settings.setdefault(bmc, PushSettings())


def http_push_fields(bmc: Bmc, push_uri: str, apply_times: tuple[str, ...]) -> dict[str, Any]:
    """HttpPushUri and its settings for the UpdateService (none without the quirk)."""
    if not offers_http_push(bmc):
        return {}
    current = push_settings(bmc)
    with PUSH_LOCK:
        return {
            "HttpPushUri": push_uri,
            "HttpPushUriTargets": list(current.targets),
            "HttpPushUriTargetsBusy": current.busy,
            "HttpPushUriOptions": {"HttpPushUriApplyTime": {
                "ApplyTime": current.apply_time,
                "ApplyTime@Redfish.AllowableValues": list(apply_times)}},
            "HttpPushUriOptionsBusy": False,
        }


def stages_until_host_reset(bmc: Bmc) -> bool:
    """Flashed images wait for the next host reset even when Immediate was asked."""
    return "staged-until-host-reset" in bmc.quirks


# -- FirmwareInventory ------------------------------------------------------------------

def inventory_hidden(bmc: Bmc) -> bool:
    """No FirmwareInventory: the no_firmware_inventory fault, or the quirk (which keeps
    the link, dangling, as sushy-tools does)."""
    return NO_INVENTORY in bmc.quirks or bmc.faults.active(FaultKind.NO_FIRMWARE_INVENTORY) \
        is not None


def inventory_unlinked(bmc: Bmc) -> bool:
    fault = bmc.faults.active(FaultKind.NO_FIRMWARE_INVENTORY)
    return fault is not None and fault.params.get("link") != "dangling"


# Dell numbers each component (its ComponentID); a stable number per component name.
def _component_number(component: str) -> int:
    return 100 + zlib.crc32(component.encode()) % 900


_DELL_ID = re.compile(r"^(Installed|Previous)-(\d+)-(.+)$")
INACTIVE_MEMBER = "inactive-image"


def _previous_versions(bmc: Bmc) -> dict[str, str]:
    """Component -> the version its last flash replaced (Dell keeps a Previous- member)."""
    previous: dict[str, str] = {}
    for record in bmc.audit.records(bmc.id, "flash_end"):
        if record.get("from_version"):
            previous[str(record["component"])] = str(record["from_version"])
    return previous


def member_ids(bmc: Bmc, installed: dict[str, str]) -> list[str]:
    """The members (besides staged ones) FirmwareInventory lists."""
    if IDS_EMBED_VERSION in bmc.quirks:
        ids = [f"Installed-{_component_number(c)}-{v}" for c, v in sorted(installed.items())]
        ids += [f"Previous-{_component_number(c)}-{v}"
                for c, v in sorted(_previous_versions(bmc).items()) if c in installed]
    else:
        ids = sorted(installed)
    if LISTS_STAGED_IMAGE in bmc.quirks:
        ids.append(INACTIVE_MEMBER)
    return ids


def resolve_member(bmc: Bmc, member: str, installed: dict[str, str]
                   ) -> tuple[str, str, str] | None:
    """(component, version, kind) of a member Id, kind one of installed / previous /
    inactive; None when the BMC lists no such member (an Id that changed: 404)."""
    if LISTS_STAGED_IMAGE in bmc.quirks and member == INACTIVE_MEMBER and "BMC" in installed:
        return "BMC", _inactive_version(installed["BMC"]), "inactive"
    if IDS_EMBED_VERSION not in bmc.quirks:
        return (member, installed[member], "installed") if member in installed else None
    match = _DELL_ID.match(member)
    if match is None:
        return None
    kind, number, version = match.groups()
    for component, current in installed.items():
        if _component_number(component) != int(number):
            continue
        if kind == "Installed" and version == current:
            return component, current, "installed"
        if kind == "Previous" and _previous_versions(bmc).get(component) == version:
            return component, version, "previous"
    return None


def _inactive_version(running: str) -> str:
    """The version of the image OpenBMC holds in its other flash bank: not running."""
    return f"{running}-inactive"


def member_fields(bmc: Bmc, component: str, kind: str) -> dict[str, Any]:
    """Name, SoftwareId, Updateable and Status of a member that is not staged."""
    if kind == "inactive":
        return {"Name": f"{component} firmware (inactive image)", "Updateable": False,
                "SoftwareId": f"{bmc.model}-{component}",
                "Status": {"State": "Disabled", "Health": "OK"}}
    dell = IDS_EMBED_VERSION in bmc.quirks
    return {
        # Dell names the component and numbers it; the Id is no identity there.
        "Name": component if dell else f"{component} firmware",
        "Updateable": kind == "installed",
        "SoftwareId": str(_component_number(component)) if dell else f"{bmc.model}-{component}",
        "Status": {"State": "Enabled" if kind == "installed" else "StandbyOffline",
                   "Health": "OK"},
    }


def multipart_fields(bmc: Bmc, push_uri: str) -> dict[str, Any]:
    return {"MultipartHttpPushUri": push_uri} if offers_multipart(bmc) else {}


__all__ = ["busy_refusal", "check_multipart_offered", "check_simple_update",
           "http_push_fields", "inventory_hidden", "inventory_unlinked", "member_fields",
           "member_ids", "multipart_fields", "offers_http_push", "push_settings",
           "refuse_transiently", "resolve_member", "stages_until_host_reset"]
