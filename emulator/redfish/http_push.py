"""UpdateService.HttpPushUri: the older, non-multipart push (the ``http-push-only`` quirk).

Before MultipartHttpPushUri (UpdateService 1.15 deprecates the rest), a client pushed
the image as the raw body of a POST to ``HttpPushUri``; where it applies came from
the service's ``HttpPushUriTargets`` and when from ``HttpPushUriOptions``
(``HttpPushUriApplyTime.ApplyTime``), both set by PATCHing the UpdateService first,
with ``HttpPushUriTargetsBusy`` as the clients' own reservation flag (DMTF CSDL
UpdateService_v1.xml). OpenBMC's bmcweb served only this push until it gained the
multipart one (``/redfish/v1/UpdateService/update``), and so did older iDRAC and iLO
firmware (docs/interop.md, "Vendor quirks"). A BMC with the quirk lists no
MultipartHttpPushUri; one without it lists no HttpPushUri and refuses both requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any

from flask import Blueprint, Response, request

from emulator.accounts import Privilege
from emulator.errors import RedfishError
from emulator.firmware.engine import UpdateRequest
from emulator.redfish import update_quirks as quirks
from emulator.redfish.common import bmc, check_properties, json_response, read_json, requires
from emulator.redfish.update_service import (
    APPLY_TIMES,
    HTTP_PUSH_URI,
    SERVICE_URI,
    accepted,
    engine,
    refuse_if_updating,
    targets_to_components,
)

blueprint = Blueprint("http_push", __name__)

CHUNK_BYTES = 1 << 20


def _not_offered() -> RedfishError:
    return RedfishError(404, "ResourceNotFound", "Resource", request.path)


@blueprint.patch(SERVICE_URI)
@requires(Privilege.CONFIGURE_COMPONENTS)
def patch_update_service() -> Response:
    """The push settings are the UpdateService's only writable properties."""
    current = bmc()
    if not quirks.offers_http_push(current):
        raise RedfishError(405, "OperationNotAllowed")
    document = read_json()
    check_properties(document, {"HttpPushUriTargets": list, "HttpPushUriTargetsBusy": bool,
                                "HttpPushUriOptions": dict})
    targets = document.get("HttpPushUriTargets")
    if targets is not None:
        targets_to_components(targets, "HttpPushUriTargets")  # every URI must be known
    apply_time = _apply_time(document.get("HttpPushUriOptions"))
    push = quirks.push_settings(current)
    with quirks.PUSH_LOCK:
        if targets is not None:
            push.targets = list(targets)
        if "HttpPushUriTargetsBusy" in document:
            push.busy = document["HttpPushUriTargetsBusy"]
        if apply_time is not None:
            push.apply_time = apply_time
    return json_response(None, 204)


def _apply_time(options: Any) -> str | None:
    """HttpPushUriOptions.HttpPushUriApplyTime.ApplyTime, checked (None: not given)."""
    if options is None:
        return None
    check_properties(options, {"HttpPushUriApplyTime": dict})
    when = options.get("HttpPushUriApplyTime")
    if when is None:
        return None
    check_properties(when, {"ApplyTime": str}, choices={"ApplyTime": APPLY_TIMES})
    found: str | None = when.get("ApplyTime")
    return found


@blueprint.post(HTTP_PUSH_URI)
@requires(Privilege.CONFIGURE_COMPONENTS)
def http_push() -> Response:
    """The request body is the image; targets and apply time are the settings'."""
    current = bmc()
    if not quirks.offers_http_push(current):
        raise _not_offered()
    if (request.mimetype or "").startswith("multipart/"):
        # A multipart body here would be taken for the image: refused, as bmcweb does.
        raise RedfishError(415, "UnsupportedMediaType")
    push = quirks.push_settings(current)
    with quirks.PUSH_LOCK:
        targets, apply_time = list(push.targets), push.apply_time
    components = targets_to_components(targets, "HttpPushUriTargets")
    refuse_if_updating()
    quirks.refuse_transiently(current)
    path = _save_body()
    update = UpdateRequest(
        source=path, image="HttpPushUri image", components=components,
        apply_time=apply_time, cleanup=True,
        body=json.dumps({"HttpPushUriTargets": targets, "ApplyTime": apply_time}),
    )
    return accepted(engine().start_update(current, update))


def _save_body() -> str:
    """The request body in a temporary file (413 above MaxImageSizeBytes, 400 if empty)."""
    handle, path = tempfile.mkstemp(prefix="fleetflash-push-", suffix=".iso")
    try:
        size = 0
        with os.fdopen(handle, "wb") as out:
            while chunk := request.stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > engine().max_image_bytes:
                    raise RedfishError(413, "PayloadTooLarge")
                out.write(chunk)
        if size == 0:
            raise RedfishError(400, "ActionParameterMissing", "HttpPushUri", "image")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return path
