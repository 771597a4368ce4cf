"""The CIM-XML indication listener: pywbem's WBEMListener with a gate in front.

pywbem parses CIM-XML and answers DSP0200 errors; this module adds what a
listener on a network needs before pywbem sees a byte of the body:

  - body size limit (411 without Content-Length, 413 over the limit);
  - source identification by client address (403) and HTTP Basic (401);
  - the DSP0200 export headers: CIMExport must be MethodRequest (400,
    CIMError: unsupported-operation), CIMExportMethod must be present and name
    the method in the body (400, header-mismatch), CIMProtocolVersion 1.x
    (501, unsupported-protocol-version);
  - recording of every refusal, with its reason, through the intake service.

Accepted indications are handed to the intake service inside the request
(it only writes the store), instead of to pywbem's in-memory queue, so an
acknowledged alert survives a restart. Trust and profile failures come back
as CIM-XML error responses (CIM_ERR_ACCESS_DENIED, CIM_ERR_INVALID_PARAMETER).
"""

from __future__ import annotations

import http.client
import io
import logging
import queue
import re
import ssl
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

from pywbem import CIMInstance, WBEMListener
from pywbem._cim_constants import (  # the listener's own status code table
    CIM_ERR_ACCESS_DENIED,
    CIM_ERR_FAILED,
    CIM_ERR_INVALID_PARAMETER,
)
from pywbem._exceptions import CIMXMLParseError
from pywbem._exceptions import Error as PywbemError
from pywbem._listener import ListenerRequestHandler

from gateway.cim.connections import limit_connections, log_connection_error
from gateway.cim.profile import parse_indication
from gateway.config import SourceConfig
from gateway.intake.credentials import SourceAuthenticator
from gateway.intake.errors import AlertFormatError
from gateway.intake.service import CHANNEL_CIM, IntakeService
from gateway.store import Decision, StoreError

LOG = logging.getLogger(__name__)
REALM = 'Basic realm="fleetflash gateway", charset="UTF-8"'
SOCKET_TIMEOUT_S = 15.0
MAX_CONNECTIONS = 64
LISTEN_BACKLOG = 128
DRAIN_LIMIT_BYTES = 1 << 20
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass
class _Exchange:
    """Per-request state shared between the handler and the listener (thread-local)."""

    client: str
    source: SourceConfig | None = None
    export_method_header: str | None = None
    header_mismatch: bool = False
    recorded: bool = False
    failure: tuple[int, str] | None = None  # CIM status + description to answer with


_local = threading.local()


def _exchange() -> _Exchange | None:
    return getattr(_local, "exchange", None)


def _header_safe(text: str, limit: int = 200) -> str:
    """Text fit for an HTTP header: printable ASCII only, so input cannot split the response."""
    return _UNPRINTABLE.sub("?", text)[:limit]


class GatewayRequestHandler(ListenerRequestHandler):  # type: ignore[misc]
    """pywbem's export request handler behind the gateway's gate."""

    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    timeout = SOCKET_TIMEOUT_S  # a stalled sender cannot hold a thread forever
    rfile: BinaryIO  # set per connection by socketserver
    # Headers and body go out in separate writes; with Nagle on, a keep-alive sender's
    # delayed ACK stalls every response by ~40 ms.
    disable_nagle_algorithm = True

    @property
    def gateway(self) -> GatewayListener:
        listener = self.server.listener
        assert isinstance(listener, GatewayListener)
        return listener

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        _local.exchange = _Exchange(client=str(self.client_address[0]))
        connection_rfile = self.rfile
        try:
            if self._gate():
                # Read the whole (size-checked) body now and let pywbem read it from
                # memory: pywbem answers some header errors without reading the body,
                # which on a keep-alive connection would be parsed as the next request.
                body = connection_rfile.read(int(self.headers["Content-Length"]))
                self.rfile = io.BytesIO(body)
                super().do_POST()
        except Exception:  # last resort: never a traceback or a dropped connection
            LOG.exception("unexpected error handling an export request from %s",
                          self.client_address[0])
            self.close_connection = True
            self.send_http_error(400, "request-not-valid", "request could not be processed")
        finally:
            self.rfile = connection_rfile
            _local.exchange = None

    def invalid_method(self) -> None:
        """405 for anything but POST (recorded); the connection closes unless the body is
        small enough to drop."""
        length = self.headers.get("Content-Length", "0").strip()
        if length.isdigit() and int(length) <= self.gateway.max_body_bytes:
            self._drain(int(length))
        else:
            self.close_connection = True
        _local.exchange = _Exchange(client=str(self.client_address[0]))
        try:
            self._refuse(405, None, f"HTTP method {self.command} is not allowed (only POST)",
                         [("Allow", "POST")])
        finally:
            _local.exchange = None

    def _gate(self) -> bool:
        """Check size, identity and export headers; answer and return False on refusal."""
        exchange = _exchange()
        assert exchange is not None
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._refuse(411, None, "Transfer-Encoding is not supported; send Content-Length")
            return False
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self.close_connection = True
            self._refuse(411, None, "Content-Length header is required")
            return False
        if not length_text.strip().isdigit():
            self.close_connection = True
            self._refuse(400, "request-not-well-formed", "Content-Length is not a number")
            return False
        length = int(length_text)
        if length > self.gateway.max_body_bytes:
            # Discarding a moderately oversized body lets the sender read the 413 (closing
            # with unread input makes the kernel send a reset that can hide the answer).
            if length <= DRAIN_LIMIT_BYTES:
                self._drain(length)
            else:
                self.close_connection = True
            self._refuse(413, None, f"body of {length} bytes exceeds the "
                                    f"{self.gateway.max_body_bytes} byte limit")
            return False
        identity = self.gateway.authenticator.identify(exchange.client,
                                                       self.headers.get("Authorization"))
        if identity.source is None:
            self._drain(length)
            headers = [("WWW-Authenticate", REALM)] if identity.http_status == 401 else []
            self._refuse(identity.http_status, None, identity.reason, headers,
                         source=identity.claimed_source)
            return False
        exchange.source = identity.source
        export = self.headers.get("CIMExport")
        if export != "MethodRequest":
            self._drain(length)
            self._refuse(400, "unsupported-operation",
                         f"CIMExport header must be MethodRequest, got {export!r}")
            return False
        exchange.export_method_header = self.headers.get("CIMExportMethod")
        if not exchange.export_method_header:
            self._drain(length)
            self._refuse(400, "header-mismatch", "CIMExportMethod header is required")
            return False
        protocol = self.headers.get("CIMProtocolVersion", "1.0")
        if not re.fullmatch(r"1\.\d+", protocol.strip()):
            self._drain(length)
            self._refuse(501, "unsupported-protocol-version",
                         f"CIMProtocolVersion {protocol!r} is not supported (need 1.x)")
            return False
        return True

    def _drain(self, length: int) -> None:
        """Read and drop an unwanted body (in small pieces) so the connection can be reused."""
        while length > 0:
            piece = self.rfile.read(min(length, 65536))
            if not piece:
                break
            length -= len(piece)

    def _refuse(self, status: int, cim_error: str | None, reason: str,
                headers: list[tuple[str, str]] | None = None, source: str | None = None) -> None:
        exchange = _exchange()
        if exchange is not None and source is None and exchange.source is not None:
            source = exchange.source.name
        self._record(reason, source)
        self.send_http_error(status, cim_error, reason, headers)

    def _record(self, reason: str, source: str | None = None) -> None:
        exchange = _exchange()
        if exchange is not None:
            if exchange.recorded:
                return
            exchange.recorded = True
            if source is None and exchange.source is not None:
                source = exchange.source.name
        try:
            self.gateway.intake.record_refusal(channel=CHANNEL_CIM, reason=reason,
                                               client_address=str(self.client_address[0]),
                                               source=source)
        except StoreError as exc:
            LOG.error("could not record refused request from %s: %s",
                      self.client_address[0], exc)

    # -- pywbem hooks ----------------------------------------------------------

    def parse_export_request(self, request_str: bytes) -> tuple[str, str, dict[str, Any]]:
        """pywbem's parser, with stray exception types mapped to CIMXMLParseError and the
        CIMExportMethod header checked against the body."""
        try:
            msgid, method, params = ListenerRequestHandler.parse_export_request(request_str)
        except PywbemError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, LookupError,
                OverflowError, UnicodeError, RecursionError) as exc:
            # e.g. LookupError from expat for <?xml encoding="tf-8"?> (found by the fuzz test)
            raise CIMXMLParseError(f"invalid CIM-XML: {exc.__class__.__name__}") from exc
        exchange = _exchange()
        if exchange is not None and exchange.export_method_header != method:
            exchange.header_mismatch = True
            raise CIMXMLParseError(
                f"CIMExportMethod header {exchange.export_method_header!r} does not match "
                f"the method {method!r} in the body")
        return msgid, method, params

    def send_http_error(self, http_code: int, cim_error: str | None = None,
                        cim_error_details: str | None = None,
                        headers: list[tuple[str, str]] | None = None) -> None:
        """DSP0200 HTTP-level error: CIMError / CIMErrorDetails headers, empty body."""
        exchange = _exchange()
        if exchange is not None and exchange.header_mismatch:
            cim_error = "header-mismatch"
        details = _header_safe(cim_error_details or "")
        self._record(f"{cim_error or http.client.responses.get(http_code, http_code)}: {details}")
        LOG.info("refused export request from %s: HTTP %s %s %s", self.client_address[0],
                 http_code, cim_error or "", details)
        self.send_response(http_code, http.client.responses.get(http_code, ""))
        self.send_header("CIMExport", "MethodResponse")
        if cim_error is not None:
            self.send_header("CIMError", cim_error)
        if details:
            self.send_header("CIMErrorDetails", details)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def send_error_response(self, msgid: str, methodname: str, status_code: int,
                            status_desc: str, error_insts: Any = None) -> None:
        """CIM-XML level error (HTTP 200 with ERROR); recorded unless already recorded."""
        self._record(f"CIM status {status_code}: {status_desc}")
        super().send_error_response(msgid, methodname, status_code, status_desc, error_insts)

    def send_success_response(self, msgid: str, methodname: str, instance: CIMInstance) -> None:
        """Acknowledge, unless the intake refused the indication (then a CIM-XML error)."""
        exchange = _exchange()
        if exchange is not None and exchange.failure is not None:
            status, description = exchange.failure
            super().send_error_response(msgid, methodname, status, description)
            return
        super().send_success_response(msgid, methodname, instance)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Malformed HTTP (bad request line, huge headers): recorded, then http.server's answer."""
        self._record(f"malformed HTTP request: {code} {message or ''}".strip())
        super().send_error(code, message, explain)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        LOG.debug(format, *args)


class GatewayListener(WBEMListener):  # type: ignore[misc]
    """WBEMListener whose requests go through `GatewayRequestHandler` into the intake."""

    def __init__(self, intake: IntakeService, *, host: str, http_port: int | None,
                 https_port: int | None, certfile: str | None = None,
                 keyfile: str | None = None, max_body_bytes: int = 64 * 1024,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        super().__init__(host, http_port=http_port, https_port=https_port,
                         certfile=certfile, keyfile=keyfile)
        self.intake = intake
        self.authenticator = SourceAuthenticator(intake.config.sources)
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        # pywbem's callback thread never gets work here (indications go to the intake
        # inside the request); a short poll lets stop() return promptly.
        self.queue_get_timeout = 0.1

    def start(self) -> None:
        """Start listening. Raises pywbem ListenerError subclasses (port in use, bad cert)."""
        super().start()
        for server in (self._http_server, self._https_server):
            if server is None:
                continue
            server.RequestHandlerClass = GatewayRequestHandler
            server.daemon_threads = True
            limit_connections(server, self.max_connections)
            # pywbem listens with socketserver's backlog of 5: a burst of senders would
            # see dropped SYNs and 1 s retransmits. Listening again only resizes it.
            server.socket.listen(LISTEN_BACKLOG)
            server.handle_error = log_connection_error
            if isinstance(server.socket, ssl.SSLSocket):
                # Handshake in the request thread (with its timeout), not in accept():
                # a client that connects and stays silent must not stall the listener.
                server.socket.do_handshake_on_connect = False  # type: ignore[attr-defined]

    def _handle_indication(self, indication: CIMInstance, host: str, msgid: str) -> None:
        exchange = _exchange()
        if exchange is None or exchange.source is None:
            # Only possible for a request accepted in the instant between pywbem
            # starting its server and start() installing our handler: refuse it.
            raise queue.Full
        try:
            alert = parse_indication(indication)
        except AlertFormatError as exc:
            reason = f"malformed update alert: {exc}"
            self._refused(exchange, CIM_ERR_INVALID_PARAMETER, reason, indication)
            return
        try:
            outcome = self.intake.handle(alert, source=exchange.source, channel=CHANNEL_CIM,
                                         client_address=host)
        except StoreError as exc:
            LOG.error("store unavailable while handling an indication: %s", exc)
            exchange.recorded = True  # nothing could be recorded; say so to the sender
            exchange.failure = (CIM_ERR_FAILED, "gateway store unavailable; retry later")
            return
        exchange.recorded = True
        if outcome.decision == Decision.REJECTED:
            status = CIM_ERR_ACCESS_DENIED if outcome.untrusted else CIM_ERR_FAILED
            exchange.failure = (status, outcome.reason)

    def _refused(self, exchange: _Exchange, status: int, reason: str,
                 indication: CIMInstance) -> None:
        identifier = indication.properties.get("IndicationIdentifier")
        message = indication.properties.get("MessageID")
        try:
            self.intake.record_refusal(
                channel=CHANNEL_CIM, reason=reason, client_address=exchange.client,
                source=exchange.source.name if exchange.source else None,
                message_id=str(message.value)[:64] if message is not None else None,
                indication_identifier=(str(identifier.value)[:256]
                                       if identifier is not None else None))
        except StoreError as exc:
            LOG.error("could not record refused indication: %s", exc)
        exchange.recorded = True
        exchange.failure = (status, reason)
