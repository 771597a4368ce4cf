"""/redfish/v1/SessionService: log in (POST Sessions) and out (DELETE a session)."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint, Response, g

from emulator.accounts import Privilege, Session
from emulator.errors import RedfishError
from emulator.redfish.common import (
    bmc,
    check_properties,
    existing,
    json_response,
    read_json,
    requires,
)
from emulator.redfish.documents import OK_STATUS, ref, resource, serve, serve_collection

blueprint = Blueprint("session_service", __name__)

SERVICE_URI = "/redfish/v1/SessionService"
SESSIONS_URI = f"{SERVICE_URI}/Sessions"


def service_document() -> dict[str, Any]:
    return resource(
        SERVICE_URI, "#SessionService.v1_2_0.SessionService", "SessionService",
        "Session Service",
        ServiceEnabled=True,
        # An integer in the schema; a lab may start BMCs with a sub-second timeout.
        SessionTimeout=math.ceil(bmc().sessions.timeout_s),
        Status=OK_STATUS,
        Sessions=ref(SESSIONS_URI),
    )


def update_service(document: dict[str, Any]) -> None:
    check_properties(document, {"SessionTimeout": int},
                     read_only=("Id", "Name", "ServiceEnabled", "Sessions", "Status"))
    if "SessionTimeout" in document:
        timeout = document["SessionTimeout"]
        if not 30 <= timeout <= 86400:  # the schema's Minimum/Maximum
            raise RedfishError(400, "PropertyValueOutOfRange", timeout, "SessionTimeout")
        bmc().sessions.timeout_s = timeout


serve(blueprint, SERVICE_URI, service_document, update_service, Privilege.CONFIGURE_MANAGER)


serve_collection(blueprint, SESSIONS_URI, "SessionCollection", "Sessions",
                 lambda: [f"{SESSIONS_URI}/{s.id}" for s in bmc().sessions.all()])


def _session_document(session: Session) -> dict[str, object]:
    created = time.time() - (time.monotonic() - session.created)
    return resource(
        f"{SESSIONS_URI}/{session.id}", "#Session.v1_8_0.Session", session.id, "User Session",
        UserName=session.account.username,
        SessionType="Redfish",
        CreatedTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
    )


@blueprint.post(SESSIONS_URI)
def login() -> Response:
    """Anonymous by design: this is how a client gets a token."""
    document = read_json()
    check_properties(document, {"UserName": str, "Password": str},
                     required=("UserName", "Password"))
    current = bmc()
    account = current.accounts.authenticate(document["UserName"], document["Password"])
    if account is None:
        raise RedfishError(401, "NoValidSession")
    quirks = current.quirks
    if "session-limit" in quirks and (
            len(current.sessions.all()) >= quirks.value("session-limit")):
        # iDRAC (RAC0218) and others: the session table is full.
        raise RedfishError(503, "SessionLimitExceeded")
    session, token = current.sessions.create(account)
    uri = f"{SESSIONS_URI}/{session.id}"
    return json_response(_session_document(session), 201,
                         {"X-Auth-Token": token, "Location": uri})


@blueprint.get(f"{SESSIONS_URI}/<session_id>")
def session(session_id: str) -> Response:
    return json_response(
        _session_document(existing(bmc().sessions.get(session_id), "Session", session_id)))


@blueprint.delete(f"{SESSIONS_URI}/<session_id>")
@requires(Privilege.CONFIGURE_SELF)
def logout(session_id: str) -> Response:
    current = bmc()
    found = existing(current.sessions.get(session_id), "Session", session_id)
    own = found.account is g.account
    if not own and Privilege.CONFIGURE_MANAGER not in g.account.privileges:
        raise RedfishError(403, "InsufficientPrivilege")
    current.sessions.delete(session_id)
    return json_response(None, 204)
