"""UpdateService.HttpPushUri: the push of a BMC without MultipartHttpPushUri.

The image is the raw body of a POST to ``HttpPushUri``; where it applies and when are
UpdateService properties set beforehand (DMTF CSDL UpdateService_v1.xml, deprecated
in 1.15 in favour of the multipart push, still all that older OpenBMC, iDRAC and iLO
firmware offer: docs/interop.md, "http-push-only"):

- ``HttpPushUriTargets``: the FirmwareInventory members to update (none: the BMC
  decides), set when the BMC lists the property;
- ``HttpPushUriOptions.HttpPushUriApplyTime.ApplyTime``: Immediate unless asked
  otherwise; an apply time the BMC does not list (or no options at all when one is
  asked for) is refused before anything is written;
- ``HttpPushUriTargetsBusy``: the clients' reservation of the targets. One held by
  someone else is waited out as a busy BMC (the step's bounded backoff); the gateway
  sets it with its targets. Once the POST is answered, every property it changed is
  put back as it was and the reservation released. After a crash in between, the
  caller says the flag may be its own.

Each PATCH carries If-Match when the UpdateService offers an ETag (read just before),
and a 412 is answered by reading it again once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sushy import exceptions as sushy_exc

from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import BmcBusyError, NotSupportedError, RedfishError, translated
from gateway.redfish.tasks import TaskRef, task_ref_from

LOG = logging.getLogger(__name__)
IMMEDIATE = "Immediate"
TARGETS = "HttpPushUriTargets"
BUSY = "HttpPushUriTargetsBusy"


def http_push_uri(service: Mapping[str, Any]) -> str | None:
    uri = service.get("HttpPushUri")
    return uri if isinstance(uri, str) and uri else None


def _apply_time_now(service: Mapping[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """(the ApplyTime set now, the allowable values) of HttpPushUriOptions (None, ()
    when the BMC shows no such options)."""
    options = service.get("HttpPushUriOptions")
    when = options.get("HttpPushUriApplyTime") if isinstance(options, dict) else None
    if not isinstance(when, dict):
        return None, ()
    allowed = when.get("ApplyTime@Redfish.AllowableValues")
    current = when.get("ApplyTime")
    return (current if isinstance(current, str) else None,
            tuple(v for v in allowed if isinstance(v, str)) if isinstance(allowed, list) else ())


def settings_for(service: Mapping[str, Any], targets: Sequence[str],
                 apply_time: str | None) -> dict[str, Any]:
    """The UpdateService PATCH that prepares the push (empty: nothing to set). Raises
    NotSupportedError for an apply time the BMC cannot be told."""
    wanted = apply_time or IMMEDIATE
    current, allowed = _apply_time_now(service)
    patch: dict[str, Any] = {}
    if current is None and wanted != IMMEDIATE:
        raise NotSupportedError(f"HttpPushUri offers no HttpPushUriOptions: apply time "
                                f"{wanted} cannot be asked for")
    if allowed and wanted not in allowed:
        raise NotSupportedError(f"HttpPushUri does not allow apply time {wanted} "
                                f"(it allows {list(allowed)})")
    if current is not None and current != wanted:
        patch["HttpPushUriOptions"] = {"HttpPushUriApplyTime": {"ApplyTime": wanted}}
    if TARGETS in service:
        patch[TARGETS] = list(targets)
        if BUSY in service and targets:
            patch[BUSY] = True
    elif targets:
        LOG.warning("%s: the BMC lists no HttpPushUriTargets; the image is pushed without "
                    "targets and the BMC decides where it applies", service.get("@odata.id"))
    return patch


def http_push(conn: FleetConnector, service_uri: str, chunks: Iterable[bytes], size: int, *,
              targets: Sequence[str] = (), apply_time: str | None = None,
              force: bool = False, timeout: float | None = None,
              reservation_may_be_ours: bool = False) -> TaskRef | None:
    """Set the push's targets and apply time, then POST the image to HttpPushUri.
    Returns the task, or None if the BMC names none.

    Raises NotSupportedError (no HttpPushUri, a forced downgrade, an apply time the BMC
    cannot be told), BmcBusyError while another client holds the targets, and the
    translated refusals of the PATCH and the POST."""
    if force:
        raise NotSupportedError("HttpPushUri has no ForceUpdate: a downgrade needs "
                                "SimpleUpdate or MultipartHttpPushUri")
    service, etag = _read(conn, service_uri)
    uri = http_push_uri(service)
    if uri is None:
        raise NotSupportedError("the BMC offers neither MultipartHttpPushUri nor HttpPushUri")
    if service.get(BUSY) is True and not reservation_may_be_ours:
        raise BmcBusyError("another client holds UpdateService.HttpPushUriTargets "
                           "(HttpPushUriTargetsBusy is true)", status=409)
    patch = settings_for(service, targets, apply_time)
    if patch:
        _patch(conn, service_uri, patch, etag)
    # Reaching here with the flag set, it is this run's own (from before a crash).
    undo = _previous(service, patch, release=service.get(BUSY) is True)
    try:
        with translated("pushing the image (HttpPushUri)", strict=True):
            return task_ref_from(conn.post_stream(uri, chunks, size, timeout))
    finally:
        if undo:
            _restore(conn, service_uri, undo)


def _previous(service: Mapping[str, Any], patch: Mapping[str, Any], *,
              release: bool) -> dict[str, Any]:
    """What undoes ``patch``: each property as the BMC showed it before, the
    reservation given back (``release``: also one the run held before this push)."""
    undo: dict[str, Any] = {}
    if "HttpPushUriOptions" in patch:
        current, _allowed = _apply_time_now(service)
        undo["HttpPushUriOptions"] = {"HttpPushUriApplyTime": {"ApplyTime": current}}
    if TARGETS in patch:
        undo[TARGETS] = service.get(TARGETS) or []
    if patch.get(BUSY) or release:
        undo[BUSY] = False
    return undo


def _read(conn: FleetConnector, uri: str) -> tuple[dict[str, Any], str | None]:
    with translated("reading UpdateService"):
        response = conn.get(uri)
        body: dict[str, Any] = response.json()
    return body, response.headers.get("ETag")


def _patch(conn: FleetConnector, uri: str, patch: dict[str, Any], etag: str | None) -> None:
    """PATCH with If-Match when the service gave an ETag; a 412 (it changed since):
    read again, once, and resend."""
    with translated("setting UpdateService.HttpPushUri's targets and apply time",
                    strict=True):
        try:
            conn.patch(uri, data=patch, headers={"If-Match": etag} if etag else None)
            return
        except sushy_exc.HTTPError as exc:
            if exc.status_code != 412:
                raise
        _body, etag = _read(conn, uri)
        conn.patch(uri, data=patch, headers={"If-Match": etag} if etag else None)


def _restore(conn: FleetConnector, uri: str, undo: dict[str, Any]) -> None:
    """Put the push settings back as they were once the POST is answered (the BMC has
    taken its targets and apply time): the gateway leaves no setting of its own behind."""
    try:
        _service, etag = _read(conn, uri)
        _patch(conn, uri, undo, etag)
    except RedfishError as exc:
        LOG.warning("%s: could not put the HttpPushUri settings back (%s) after the push: %s",
                    uri, ", ".join(sorted(undo)), exc)
