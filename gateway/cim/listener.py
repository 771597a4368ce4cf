"""The CIM-XML indication listener: DSP0200's export endpoint behind the front door.

The front door (gateway.frontdoor) owns the connections: deadlines, connection
limits, body size (413), Content-Length (411 without one, 400 for a malformed one).
Only a whole request reaches `ExportApp` on a worker thread, which then checks, in
order, before pywbem sees the body:

  - the method (405 for anything but POST);
  - the source, by client address (403) and HTTP Basic (401);
  - the DSP0200 export headers: CIMExport must be MethodRequest (400,
    CIMError: unsupported-operation), CIMExportMethod must be present and name
    the method in the body (400, header-mismatch), CIMProtocolVersion 1.x
    (501, unsupported-protocol-version), Accept*/Content-Type (406, header-mismatch);
  - no DTD or entity declaration in the body (400, request-not-well-formed).

pywbem then parses the export message (gateway.cim.pywbem_export) and the
indication is handed to the intake service inside the request (it only writes the
store), so an acknowledged alert survives a restart. Trust and profile failures come
back as CIM-XML errors (CIM_ERR_ACCESS_DENIED, CIM_ERR_INVALID_PARAMETER). Every
refusal is recorded: HTTP-level ones counted per client address, reason and time
bucket (gateway.intake.refusals), CIM-level refusals of authenticated exports as one
alert record each, through the intake service.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pywbem import (
    CIM_ERR_ACCESS_DENIED,
    CIM_ERR_FAILED,
    CIM_ERR_INVALID_PARAMETER,
    CIM_ERR_NOT_SUPPORTED,
    CIMInstance,
)

from gateway.cim import dsp0200
from gateway.cim.dsp0200 import Answer
from gateway.cim.profile import parse_indication
from gateway.cim.pywbem_export import (
    ExportParseError,
    ExportRequest,
    parse_export_request,
    reject_xml_declarations,
)
from gateway.config import SourceConfig
from gateway.frontdoor import ClientSlots, FrontDoorPolicy, front_door_policy
from gateway.frontdoor.http1 import Request
from gateway.frontdoor.policy import FrontDoorStats
from gateway.frontdoor.wsgi_server import FrontDoorWsgiServer
from gateway.intake.credentials import LoginBackoff, SourceAuthenticator, backoff_settings
from gateway.intake.errors import AlertFormatError
from gateway.intake.refusals import (
    FORBIDDEN,
    LOGIN_BACKOFF,
    MALFORMED,
    METHOD_NOT_ALLOWED,
    UNAUTHENTICATED,
    RefusalLog,
    refusal_settings,
)
from gateway.intake.service import CHANNEL_CIM, IntakeService
from gateway.store import Decision, StoreError
from gateway.tls import server_tls_context

LOG = logging.getLogger(__name__)
REALM = 'Basic realm="fleetflash gateway", charset="UTF-8"'
EXPORT_INDICATION = "ExportIndication"
_PROTOCOL = re.compile(r"1\.\d+")


@dataclass(frozen=True)
class _Request:
    client: str
    method: str
    headers: dict[str, str]  # lower-case names
    body: bytes


_REASONS = {401: UNAUTHENTICATED, 403: FORBIDDEN, 405: METHOD_NOT_ALLOWED,
            429: LOGIN_BACKOFF}


class ExportApp:
    """The WSGI app of the export endpoint (one call per whole request, any thread)."""

    def __init__(self, intake: IntakeService, authenticator: SourceAuthenticator,
                 refusals: RefusalLog) -> None:
        self.intake = intake
        self.authenticator = authenticator
        self.refusals = refusals

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = {key[5:].replace("_", "-").lower(): str(value)
                   for key, value in environ.items() if key.startswith("HTTP_")}
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = environ["CONTENT_TYPE"]
        request = _Request(str(environ.get("REMOTE_ADDR", "")), environ["REQUEST_METHOD"],
                           headers, environ["wsgi.input"].read())
        answer = self.answer(request)
        start_response(answer.status_line,
                       [*answer.headers, ("Content-Length", str(len(answer.body)))])
        return [answer.body]

    def answer(self, request: _Request) -> Answer:
        if request.method != "POST":
            return self._refuse(request, 405, None,
                                f"HTTP method {request.method[:16]} is not allowed (only POST)",
                                extra=[("Allow", "POST")])
        identity = self.authenticator.identify(request.client, request.headers.get("authorization"))
        if identity.source is None:
            extra = [("WWW-Authenticate", REALM)] if identity.http_status == 401 else []
            if identity.retry_after_s:
                extra.append(("Retry-After", str(identity.retry_after_s)))
            return self._refuse(request, identity.http_status, None, identity.reason, extra=extra,
                                source=identity.claimed_source)
        source = identity.source
        refusal = self._check_headers(request)
        if refusal is not None:
            status, cim_error, reason = refusal
            return self._refuse(request, status, cim_error, reason, source=source.name)
        try:
            reject_xml_declarations(request.body)
            export = parse_export_request(request.body)
        except ExportParseError as exc:
            return self._refuse(request, 400, exc.cim_error, str(exc), source=source.name)
        if export.method != request.headers.get("cimexportmethod"):
            return self._refuse(request, 400, "header-mismatch",
                                f"CIMExportMethod header {request.headers['cimexportmethod']!r}"
                                f" does not match the method {export.method!r} in the body",
                                source=source.name)
        return self._export(request, source, export)

    def _check_headers(self, request: _Request) -> tuple[int, str, str] | None:
        export = request.headers.get("cimexport")
        if export != "MethodRequest":
            return 400, "unsupported-operation", \
                f"CIMExport header must be MethodRequest, got {export!r}"
        if not request.headers.get("cimexportmethod"):
            return 400, "header-mismatch", "CIMExportMethod header is required"
        protocol = request.headers.get("cimprotocolversion", "1.0").strip()
        if not _PROTOCOL.fullmatch(protocol):
            return 501, "unsupported-protocol-version", \
                f"CIMProtocolVersion {protocol!r} is not supported (need 1.x)"
        mismatch = dsp0200.check_content_headers(request.headers)
        if mismatch is not None:
            return 406, "header-mismatch", mismatch
        return None

    def _export(self, request: _Request, source: SourceConfig, export: ExportRequest) -> Answer:
        msgid, method = export.message_id, export.method
        if method != EXPORT_INDICATION:
            return self._cim_refusal(request, source, export, CIM_ERR_NOT_SUPPORTED,
                                     f"unknown export method {method[:64]!r}")
        indication = export.params.get("NewIndication")
        if len(export.params) != 1 or not isinstance(indication, CIMInstance):
            return self._cim_refusal(request, source, export, CIM_ERR_INVALID_PARAMETER,
                                     "expecting one parameter NewIndication, a CIM instance")
        try:
            alert = parse_indication(indication)
        except AlertFormatError as exc:
            return self._cim_refusal(request, source, export, CIM_ERR_INVALID_PARAMETER,
                                     f"malformed update alert: {exc}", indication)
        try:
            outcome = self.intake.handle(alert, source=source, channel=CHANNEL_CIM,
                                         client_address=request.client)
        except StoreError as exc:
            LOG.error("store unavailable while handling an indication: %s", exc)
            return dsp0200.cim_error(msgid, method, CIM_ERR_FAILED,
                                     "gateway store unavailable; retry later")
        if outcome.decision == Decision.REJECTED:
            status = CIM_ERR_ACCESS_DENIED if outcome.untrusted else CIM_ERR_FAILED
            return dsp0200.cim_error(msgid, method, status, outcome.reason)
        return dsp0200.success(msgid, method)

    # -- refusals ---------------------------------------------------------------

    def _refuse(self, request: _Request, status: int, cim_error: str | None, reason: str, *,
                extra: list[tuple[str, str]] | None = None, source: str | None = None) -> Answer:
        """An HTTP-level refusal, counted per client address and reason (never one row
        per request: see gateway.intake.refusals); the reason never echoes credentials."""
        details = dsp0200.header_safe(reason)
        LOG.info("refused export request from %s: HTTP %s %s %s", request.client, status,
                 cim_error or "", details)
        self.refusals.record(CHANNEL_CIM, request.client, _REASONS.get(status, MALFORMED),
                             f"{status} {cim_error or ''}: {details}", source)
        return dsp0200.http_error(status, cim_error, details, extra)

    def _cim_refusal(self, request: _Request, source: SourceConfig, export: ExportRequest,
                     code: int, reason: str, indication: CIMInstance | None = None) -> Answer:
        """A CIM-level refusal of an authenticated export: one alert record each."""
        message = identifier = None
        if indication is not None:
            message_prop = indication.properties.get("MessageID")
            identifier_prop = indication.properties.get("IndicationIdentifier")
            message = str(message_prop.value)[:64] if message_prop is not None else None
            identifier = (str(identifier_prop.value)[:256]
                          if identifier_prop is not None else None)
        self._record(request.client, f"CIM status {code}: {reason}", source.name,
                     message_id=message, indication_identifier=identifier)
        return dsp0200.cim_error(export.message_id, export.method, code, reason)

    def _record(self, client: str, reason: str, source: str | None, *,
                message_id: str | None = None, indication_identifier: str | None = None) -> None:
        try:
            self.intake.record_refusal(channel=CHANNEL_CIM, reason=reason, client_address=client,
                                       source=source, message_id=message_id,
                                       indication_identifier=indication_identifier)
        except StoreError as exc:
            LOG.error("could not record refused request from %s: %s", client, exc)

    def front_door_refused(self, client: str, reason: str, detail: str) -> None:
        """Hook for refusals the front door answered itself (limits, deadlines, sizes)."""
        self.refusals.record(CHANNEL_CIM, client, reason, dsp0200.header_safe(detail))


class GatewayListener:
    """The export endpoint on the [listener] http and/or https ports."""

    def __init__(self, intake: IntakeService, *, host: str, http_port: int | None,
                 https_port: int | None, certfile: str | None = None,
                 keyfile: str | None = None, max_body_bytes: int = 64 * 1024,
                 policy: FrontDoorPolicy | None = None) -> None:
        self.intake = intake
        self.authenticator = SourceAuthenticator(
            intake.config.sources, LoginBackoff(backoff_settings(intake.config)))
        self.max_body_bytes = max_body_bytes
        self.policy = policy or front_door_policy(intake.config, "cim")
        self.refusals = RefusalLog(intake.store, refusal_settings(intake.config))
        self.app = ExportApp(intake, self.authenticator, self.refusals)
        self.slots = ClientSlots(self.policy)  # one budget for both ports
        self._host = host
        self._ports = {"http": http_port, "https": https_port}
        self._certfile, self._keyfile = certfile, keyfile
        self._servers: list[FrontDoorWsgiServer] = []

    def _priority(self, client: str, request: Request) -> int:
        """Publishers first: a request without credentials, or from an address backing
        off after failed logins, waits behind every request with them."""
        if request.header("authorization") and not self.authenticator.backoff.waiting(client):
            return 0
        return 1

    @property
    def max_connections(self) -> int:
        return self.policy.max_connections

    def front_door_stats(self) -> FrontDoorStats:
        """Open connections and front-door refusals of both ports (for /metrics)."""
        return self.slots.stats()

    def start(self) -> None:
        """Start listening. Raises OSError (port in use, unreadable certificate)."""
        self.refusals.start()
        for scheme, port in self._ports.items():
            if port is None:
                continue
            tls: ssl.SSLContext | None = None
            if scheme == "https":
                if not self._certfile or not self._keyfile:
                    raise OSError("listener.https needs listener.certfile and listener.keyfile")
                tls = server_tls_context(self._certfile, self._keyfile)
            server = FrontDoorWsgiServer(
                f"cim-{scheme}", self._host, port, self.app, policy=self.policy, tls=tls,
                max_body_bytes=self.max_body_bytes, on_refused=self.app.front_door_refused,
                error_headers=[("CIMExport", "MethodResponse")], chunked_bodies=False,
                slots=self.slots, priority=self._priority)
            try:
                server.start()
            except OSError:
                self.stop()
                raise
            self._servers.append(server)

    def stop(self) -> None:
        """Stop both ports, then write the refusal counts still waiting (idempotent)."""
        for server in self._servers:
            server.stop()
        self._servers = []
        self.refusals.stop()

    def bound_ports(self) -> dict[str, int]:
        return {server.name.removeprefix("cim-"): server.port for server in self._servers}
