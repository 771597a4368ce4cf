"""The one Flask app that serves every BMC of a cluster.

The BMC is chosen from the local port the request arrived on (each BMC has its
own port). Before any view runs: faults that answer for the BMC (503), body
size, authentication (HTTP Basic or X-Auth-Token) and the view's privilege.
One error handler turns every failure into a Redfish error body with
``@Message.ExtendedInfo`` from the Base registry; nothing escapes as a 500
page or a traceback.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
from flask.sessions import NullSession, SessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter
from werkzeug.wrappers import Request

from emulator.accounts import Privilege
from emulator.bmc import Bmc
from emulator.errors import BackendError, RedfishError
from emulator.faults import FaultKind
from emulator.messages import message
from emulator.redfish import (
    account_service,
    certificate_service,
    chassis,
    chassis_sensors,
    ethernet_interfaces,
    event_service,
    http_push,
    job_service,
    log_service,
    managers,
    network_protocol,
    power,
    protocol,
    registries,
    service_root,
    session_service,
    systems,
    task_service,
    thermal,
    update_service,
    virtual_media,
)
from emulator.redfish.common import json_response
from emulator.redfish.fast_get import FastGet

LOG = logging.getLogger(__name__)

# Readable without credentials (DSP0266: the service root, /redfish, and the
# OData documents); logging in must also be possible without a session.
ANONYMOUS_GET = frozenset(
    {"/redfish", "/redfish/", "/redfish/v1", "/redfish/v1/", "/redfish/v1/$metadata",
     "/redfish/v1/odata", "/redfish/v1/odata/"}
)
LOGIN_PATHS = frozenset({"/redfish/v1/SessionService/Sessions",
                         "/redfish/v1/SessionService/Sessions/"})
REALM = 'Basic realm="fleetflash-emulator", charset="UTF-8"'

_STATUS_MESSAGES = {
    400: ("MalformedJSON",),
    401: ("NoValidSession",),
    403: ("InsufficientPrivilege",),
    405: ("OperationNotAllowed",),
    413: ("PayloadTooLarge",),
    415: ("MalformedJSON",),
}


def error_body(error: RedfishError) -> dict[str, object]:
    """{"error": {code, message, @Message.ExtendedInfo}} for one Base message."""
    info = message(f"Base.{error.message_id}", *error.message_args)
    return {
        "error": {
            "code": info["MessageId"],
            "message": info["Message"],
            "@Message.ExtendedInfo": [info],
        }
    }


def render_error(error: RedfishError) -> Response:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", REALM)
    return json_response(error_body(error), error.status, headers)


class _NoSessions(SessionInterface):
    """Redfish has no cookie sessions: one shared, immutable null session for all."""

    _null = NullSession()

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return self._null

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


class RedfishFlask(Flask):
    """Flask with a cheaper URL adapter per request, and no cookie sessions.

    Flask binds the URL map to each request's environ, working out the server
    name from the Host header (a third of its routing cost, profiled). Our
    routes use neither host matching nor subdomains and no view builds an
    external URL, so the map is bound to the fixed loopback name instead.
    """

    session_interface = _NoSessions()

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        if request is None:
            return super().create_url_adapter(None)
        environ = request.environ
        return self.url_map.bind(
            "127.0.0.1", script_name=environ.get("SCRIPT_NAME") or "/",
            url_scheme=environ.get("wsgi.url_scheme", "http"),
            default_method=environ.get("REQUEST_METHOD", "GET"),
            path_info=environ.get("PATH_INFO", "/"),
            query_args=environ.get("QUERY_STRING", ""))


def create_app(find_bmc: Callable[[int], Bmc | None], max_body_bytes: int) -> Flask:
    """The Redfish WSGI app; find_bmc maps a local port to its BMC."""
    app = RedfishFlask("emulator.redfish")
    app.url_map.strict_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    for module in (service_root, systems, managers, chassis, update_service, http_push,
                   task_service,
                   job_service, session_service, account_service, event_service, registries,
                   virtual_media, log_service, network_protocol, ethernet_interfaces,
                   certificate_service, power, thermal, chassis_sensors):
        app.register_blueprint(module.blueprint)
    app.wsgi_app = protocol.members_alias(app.wsgi_app)  # type: ignore[method-assign,assignment]
    # Plain GETs skip Flask's request machinery (emulator/redfish/fast_get.py).
    app.wsgi_app = FastGet(  # type: ignore[method-assign]
        app, find_bmc, max_body_bytes, app.wsgi_app, admit=admit, render_error=render_error,
        render_backend_error=render_backend_error)
    app.after_request(protocol.finish(app))

    @app.before_request
    def pick_bmc_and_authenticate() -> Response | None:
        # Runs for every request: reads the WSGI environ directly rather than
        # through the request object's parsed properties.
        environ = request.environ
        found = find_bmc(int(environ.get("SERVER_PORT", "0")))
        if found is None:
            raise RedfishError(404, "ResourceNotFound", "Manager", request.host)
        g.bmc = found
        admit(app, found, environ, request.path, app.view_functions.get(request.endpoint or ""),
              max_body_bytes)
        return None

    @app.errorhandler(RedfishError)
    def redfish_error(error: RedfishError) -> Response:
        return render_error(error)

    @app.errorhandler(BackendError)
    def backend_error(error: BackendError) -> Response:
        return render_backend_error(error, request.method, request.path)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 400
        if status == 404:
            return render_error(RedfishError(404, "ResourceNotFound", "Resource", request.path))
        if status == 405:
            allowed = getattr(error, "valid_methods", None) or []
            headers = {"Allow": ", ".join(allowed)} if allowed else {}
            return render_error(RedfishError(405, "OperationNotAllowed", headers=headers))
        ids = _STATUS_MESSAGES.get(status, ("GeneralError",))
        return render_error(RedfishError(status if status < 500 else 400, ids[0]))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        # A bug in the emulator: log it for us, tell the client nothing internal.
        LOG.exception("unexpected error on %s %s", request.method, request.path)
        return render_error(RedfishError(500, "InternalError"))

    return app


def admit(app: Flask, found: Bmc, environ: dict[str, Any], path: str,
          view: Callable[..., Any] | None, max_body_bytes: int) -> None:
    """What every request passes before its view runs (g.bmc is set): faults that
    answer for the BMC, protocol refusals, body size, authentication into
    g.account and g.session, the view's privilege, If-Match on writes.

    Raises RedfishError. Shared by the Flask hook and the GET fast path.
    """
    unavailable = found.faults.hit(FaultKind.SERVICE_UNAVAILABLE)
    if unavailable is not None:
        seconds = round(float(unavailable.params.get("seconds", 5)))
        raise RedfishError(503, "ServiceTemporarilyUnavailable", seconds,
                           headers={"Retry-After": str(seconds)})
    protocol.check_request(environ)
    length = environ.get("CONTENT_LENGTH", "")
    if length.isdigit() and int(length) > max_body_bytes:
        raise RedfishError(413, "PayloadTooLarge")
    method = environ["REQUEST_METHOD"]
    if method in ("GET", "HEAD") and path in ANONYMOUS_GET:
        return
    if method == "POST" and path in LOGIN_PATHS:
        return
    _authenticate(found, environ)
    _authorise(view, method)
    if (method == "PATCH" and "etag-required-on-patch" in found.quirks
            and environ.get("HTTP_IF_MATCH") is None):
        raise RedfishError(412, "PreconditionRequired")  # a stale one: PreconditionFailed
    protocol.check_if_match(app, found.conditional_write_lock, environ)


def render_backend_error(error: BackendError, method: str, path: str) -> Response:
    """The BMC cannot reach its host (libvirt failed): a temporary condition
    from the client's point of view, and nothing internal is disclosed."""
    LOG.warning("BMC host backend failed on %s %s: %s", method, path, error)
    return render_error(RedfishError(503, "ServiceTemporarilyUnavailable", 10,
                                     headers={"Retry-After": "10"}))


def _authenticate(found: Bmc, environ: dict[str, Any]) -> None:
    token = environ.get("HTTP_X_AUTH_TOKEN")
    if token:
        session = found.sessions.lookup(token)
        if session is None:
            raise RedfishError(401, "NoValidSession")
        g.account = session.account
        g.session = session
        return
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise RedfishError(401, "NoValidSession")
    try:
        username, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise RedfishError(401, "NoValidSession") from None
    account = found.accounts.authenticate(username, password) if sep else None
    if account is None:
        raise RedfishError(401, "NoValidSession")
    g.account = account
    g.session = None


def _authorise(view: Callable[..., Any] | None, method: str) -> None:
    default = Privilege.LOGIN if method in ("GET", "HEAD") else Privilege.CONFIGURE_MANAGER
    needed: Privilege = getattr(view, "_privilege", default)
    if needed not in g.account.privileges:
        raise RedfishError(403, "InsufficientPrivilege")
