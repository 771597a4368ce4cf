"""Receiving the Redfish events BMCs push to the gateway (EventService subscriptions).

A BMC delivers events by POSTing a Redfish ``Event`` document to the
subscription's Destination. BMCs differ in whether they honour
``EventDestination.HttpHeaders`` (many ignore it, some refuse it), so an
Authorization header cannot be relied on: the credential is in the URL
instead, as with the media server's capability URLs. Each node gets
``/redfish-events/<node>/<token>`` where the token is HMAC-SHA256(secret,
node id): unguessable without the secret, different per node (a BMC cannot
post events in another node's name), and stateless, so the same secret gives
the same URL after a gateway restart and existing subscriptions keep working.

The token is never logged: access log lines and messages name the node only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from gateway.frontdoor.policy import DEFAULTS, FrontDoorPolicy, FrontDoorStats
from gateway.orchestrator.errors import OrchestratorError
from gateway.wsgi_thread import WsgiThread

LOG = logging.getLogger(__name__)
# Update-registry messages that say an update is under way at a component, not that a
# version changed or failed (DSP8010 Update 1.x): kept for the step, but no look.
UNDER_WAY = frozenset({"TargetDetermined", "AllTargetsDetermined", "UpdateInProgress",
                       "TransferringToComponent", "VerifyingAtComponent",
                       "InstallingOnComponent", "ApplyingOnComponent"})

MIN_SECRET_BYTES = 32
MAX_EVENT_BYTES = 64 * 1024  # a Redfish Event document is a few KiB at most
PATH_PREFIX = "/redfish-events/"
_TOKEN_DOMAIN = b"bmc-events:"
# What follows the node segment of an event path, and any digest-like hex run: the
# token, wherever werkzeug's own messages might quote the request line.
_TOKEN_IN_PATH = re.compile(r"(/redfish-events/[^/\s]*/)[^\s\"']*")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32,}")


@dataclass(frozen=True)
class BmcEvent:
    """One entry of an Event's ``Events`` array. ``message_id``: e.g.
    "ResourceEvent.1.4.3.ResourceChanged" ("" if absent); ``origin``: the URI of
    OriginOfCondition ("" if absent); ``event_type``: the deprecated EventType ("" if absent);
    ``args``: MessageArgs; ``message``: the Message text ("" if absent)."""

    message_id: str
    origin: str
    event_type: str
    args: tuple[str, ...] = ()
    message: str = ""


EventHandler = Callable[[str, tuple[BmcEvent, ...]], None]


class _BadEvent(Exception):
    """The body is not a Redfish Event document (the message is the one-line reason)."""


def _parse_events(body: bytes) -> tuple[BmcEvent, ...]:
    """The events of a Redfish Event document (UTF-8 JSON). Raises _BadEvent."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _BadEvent(f"body is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("Events"), list):
        raise _BadEvent("not a Redfish Event: an object with an Events array is required")
    events = []
    for entry in document["Events"]:
        if not isinstance(entry, dict):
            raise _BadEvent("not a Redfish Event: every member of Events must be an object")
        origin = entry.get("OriginOfCondition")
        origin_uri = origin.get("@odata.id") if isinstance(origin, dict) else None
        args = entry.get("MessageArgs")
        events.append(BmcEvent(_text(entry.get("MessageId")), _text(origin_uri),
                               _text(entry.get("EventType")),
                               tuple(str(a) for a in args) if isinstance(args, list) else (),
                               _text(entry.get("Message"))))
    return tuple(events)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _json(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(json.dumps({"error": message}), status, list(headers),
                    mimetype="application/json")


class _QuietHandler(WSGIRequestHandler):
    """Access lines at DEBUG with the token blanked out; nothing on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        LOG.debug("%s %s %s", self.command, _redacted(self.path.split("?", 1)[0]), code)

    def log(self, type: str, message: str, *args: object) -> None:  # noqa: A002
        LOG.debug("%s", _redacted(message % args if args else message))


def _redacted(text: str) -> str:
    return _HEX_RUN.sub("<token>", _TOKEN_IN_PATH.sub(r"\1<token>", text))


class BmcEventReceiver:
    """Serves ``POST /redfish-events/<node>/<token>`` on bind_host:bind_port (0 = any free).

    ``base_url``: how BMCs reach this server, e.g. "https://gw.example:8444" (empty:
    ``http://<bind_host>:<bound port>``, for tests). ``secret``: at least 32 bytes
    (see ``load_or_create_secret``). ``on_events(node_id, events)`` is called on a
    server thread for every accepted document; what it raises is logged, never
    returned to the BMC. ``accepted``/``refused`` count POSTs answered 204 / 4xx.
    Raises OrchestratorError for a short secret or an address that cannot be bound.
    """

    def __init__(self, bind_host: str, bind_port: int, base_url: str, secret: bytes,
                 on_events: EventHandler, *, tls: ssl.SSLContext | None = None,
                 policy: FrontDoorPolicy | None = None) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise OrchestratorError(
                f"BMC event secret is too short: {len(secret)} bytes, "
                f"at least {MIN_SECRET_BYTES} are required")
        self.bind_host = bind_host
        self._port = bind_port
        self._base_url = base_url
        self._secret = secret
        self._on_events = on_events
        self._tls = tls
        self._serving = WsgiThread("bmc-events", bind_host, bind_port, self._wsgi, tls,
                                   _QuietHandler, policy=policy or DEFAULTS["bmc_events"])
        self._lock = threading.Lock()
        self.accepted = 0
        self.refused = 0

    def front_door_stats(self) -> FrontDoorStats:
        """Open connections and front-door refusals (for /metrics)."""
        return self._serving.slots.stats()

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._port

    @property
    def base_url(self) -> str:
        if self._base_url:
            return self._base_url.rstrip("/")
        host = f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host
        return f"{'https' if self._tls else 'http'}://{host}:{self._port}"

    def _token(self, node_id: str) -> str:
        return hmac.new(self._secret, _TOKEN_DOMAIN + node_id.encode(), hashlib.sha256).hexdigest()

    def prefix(self) -> str:
        """What every destination of this receiver starts with."""
        return f"{self.base_url}{PATH_PREFIX}"

    def destination(self, node_id: str) -> str:
        """The URL a BMC must POST node_id's events to (put it in its EventDestination)."""
        return f"{self.base_url}{PATH_PREFIX}{quote(node_id, safe='')}/{self._token(node_id)}"

    def start(self) -> None:
        """Bind and serve in a daemon thread (no-op when running). Raises OrchestratorError."""
        if self._serving.running:
            return
        try:
            self._port = self._serving.start()
        except OSError as exc:
            raise OrchestratorError(
                f"BMC event receiver cannot listen on {self.bind_host}:{self._port}: {exc}"
            ) from exc
        LOG.info("receiving BMC events on %s:%d (%s)", self.bind_host, self._port,
                 self.base_url)

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self._serving.stop()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self._handle(Request(environ))
        with self._lock:
            if response.status_code == 204:
                self.accepted += 1
            else:
                self.refused += 1
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        if not request.path.startswith(PATH_PREFIX):
            return _json(404, "not found")
        if request.method != "POST":
            return _json(405, "only POST is allowed", [("Allow", "POST")])
        # rpartition: the node id may hold a (percent-encoded, now decoded) slash.
        node_id, _, token = request.path.removeprefix(PATH_PREFIX).rpartition("/")
        if not node_id or not hmac.compare_digest(token.encode(),
                                                  self._token(node_id).encode()):
            LOG.warning("refused events for node %r: wrong or missing token", node_id)
            return _json(401, "wrong or missing event token")
        if (request.content_length or 0) > MAX_EVENT_BYTES:
            return self._too_large(node_id)
        body = _read_at_most(request.stream, MAX_EVENT_BYTES + 1)
        if len(body) > MAX_EVENT_BYTES:  # no or a false Content-Length (chunked upload)
            return self._too_large(node_id)
        try:
            events = _parse_events(body)
        except _BadEvent as exc:
            LOG.warning("refused events for node %s: %s", node_id, exc)
            return _json(400, str(exc))
        LOG.debug("node %s pushed %d event(s)", node_id, len(events))
        try:
            self._on_events(node_id, events)
        except Exception:  # the BMC cannot help with our bug: log it, acknowledge the event
            LOG.exception("handling events from node %s failed", node_id)
        return Response(status=204)

    @staticmethod
    def _too_large(node_id: str) -> Response:
        LOG.warning("refused events for node %s: body over %d bytes", node_id, MAX_EVENT_BYTES)
        return _json(413, f"event body is larger than {MAX_EVENT_BYTES} bytes")


def _read_at_most(stream: IO[bytes], limit: int) -> bytes:
    # One read() may return a single chunk or socket read: loop until EOF or the limit.
    parts: list[bytes] = []
    size = 0
    while size < limit and (part := stream.read(limit - size)):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def load_or_create_secret(path: Path) -> bytes:
    """The receiver's secret: read from ``path`` (at least 32 bytes), or, when the file
    does not exist, 32 random bytes written there atomically with mode 0600.
    Raises OrchestratorError naming the path and the reason."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        return _create_secret(path)
    except OSError as exc:
        raise OrchestratorError(f"cannot read BMC event secret {path}: {exc.strerror}") from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise OrchestratorError(
            f"BMC event secret {path} is too short: {len(secret)} bytes, at least "
            f"{MIN_SECRET_BYTES} are required (delete it to have a new one made)")
    if path.stat().st_mode & 0o077:
        LOG.warning("BMC event secret %s is readable by other users (chmod 600 it)", path)
    return secret


def _create_secret(path: Path) -> bytes:
    secret = secrets.token_bytes(MIN_SECRET_BYTES)
    temp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600; replacing makes it appear whole or not at all.
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb") as out:
            out.write(secret)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
        temp = None
    except OSError as exc:
        raise OrchestratorError(
            f"cannot create BMC event secret {path}: {exc.strerror}") from exc
    finally:
        if temp is not None:
            Path(temp).unlink(missing_ok=True)
    LOG.info("created a new BMC event secret in %s", path)
    return secret


def wakes_monitor(event: BmcEvent) -> bool:
    """Task and update messages, and changes to the firmware inventory; not the update
    messages that only say an update is under way (UNDER_WAY: nothing to read yet)."""
    registry = event.message_id.split(".", 1)[0]
    if registry == "Update" and event.message_id.rsplit(".", 1)[-1] in UNDER_WAY:
        return False
    return registry in ("TaskEvent", "Update") or "/FirmwareInventory" in event.origin \
        or "/Tasks/" in event.origin
