"""Redfish protocol rules that apply to every resource (DSP0266), in one place.

- ``OData-Version`` other than 4.0 in a request: 412.
- A query parameter starting with ``$``: 501 (the service root's
  ProtocolFeaturesSupported says none is supported).
- ``POST <collection>/Members`` is the same as ``POST <collection>``.
- Every successful GET or HEAD carries ``Allow`` (the methods the URI
  takes), and a JSON resource also an ``ETag`` (a hash of the exact bytes
  sent, so it changes with every change a client could see) and ``Link:
  <schema>; rel=describedby``. ``If-None-Match`` with the current ETag
  gets 304.
- ``If-Match`` on PATCH, PUT or DELETE is checked against the resource's
  current ETag, and the check and the write happen under one per-BMC lock,
  so of several writers holding the same ETag exactly one wins; the others
  get 412 and change nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from emulator.errors import RedfishError

SCHEMA_BASE = "https://redfish.dmtf.org/schemas/v1"
WRITE_METHODS = frozenset({"PATCH", "PUT", "DELETE"})
# A conditional write waits at most this long for another one to finish.
LOCK_WAIT_S = 30.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def etag_of(body: bytes) -> str:
    """A strong ETag: the representation is serialised deterministically."""
    return f'"{hashlib.sha256(body).hexdigest()[:24]}"'


def schema_link(odata_type: str) -> str:
    """The Link header value naming the JSON schema of an ``@odata.type``."""
    name = odata_type.lstrip("#")
    parts = name.split(".")
    # "#ComputerSystem.v1_27_0.ComputerSystem" -> ComputerSystem.v1_27_0.json;
    # "#ComputerSystemCollection.ComputerSystemCollection" -> unversioned.
    file = f"{parts[0]}.{parts[1]}" if len(parts) == 3 else parts[0]
    return f"<{SCHEMA_BASE}/{file}.json>; rel=describedby"


def members_alias(app: WsgiApp) -> WsgiApp:
    """WSGI middleware: ``POST …/Members`` goes to the collection itself."""

    def call(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.rstrip("/").endswith("/Members"):
            environ["PATH_INFO"] = path.rstrip("/")[: -len("/Members")]
        return app(environ, start_response)

    return call


def check_request(environ: dict[str, Any]) -> None:
    """The request-wide refusals: OData-Version and unsupported $ query parameters."""
    version = environ.get("HTTP_ODATA_VERSION")
    if version is not None and version.strip() != "4.0":
        raise RedfishError(412, "HeaderInvalid", f"OData-Version: {version}")
    query = environ.get("QUERY_STRING", "")
    if "$" in query:
        for name, _value in parse_qsl(query, keep_blank_values=True):
            if name.startswith("$"):
                raise RedfishError(501, "QueryParameterUnsupported", name)


def allowed_methods(app: Flask) -> Callable[[str], str]:
    """rule string -> the Allow header for URIs of that rule (computed once per rule)."""
    cache: dict[str, str] = {}

    def allow(rule: str) -> str:
        found = cache.get(rule)
        if found is None:
            methods: set[str] = set()
            for other in app.url_map.iter_rules():
                if other.rule == rule:
                    methods |= other.methods or set()
            found = cache[rule] = ", ".join(sorted(methods))
        return found

    return allow


def check_if_match(app: Flask, lock: threading.Lock, environ: dict[str, Any]) -> None:
    """For a conditional write: hold the BMC's write lock and compare If-Match (412)."""
    if environ["REQUEST_METHOD"] not in WRITE_METHODS:
        return
    wanted = environ.get("HTTP_IF_MATCH")
    if wanted is None:
        return
    if not lock.acquire(timeout=LOCK_WAIT_S):
        raise RedfishError(503, "ServiceTemporarilyUnavailable", 5, headers={"Retry-After": "5"})
    g.write_lock = lock  # released by finish(), after the view and any error handler
    tags = {tag.strip() for tag in wanted.split(",")}
    if "*" in tags:
        return
    current = current_etag(app)
    if current is None or current not in tags:
        raise RedfishError(412, "PreconditionFailed")


def current_etag(app: Flask) -> str | None:
    """The ETag a GET of this URI would carry now (None if it cannot be read)."""
    adapter = app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, args = adapter.match(request.path, method="GET")
    except HTTPException:
        return None
    response = app.view_functions[endpoint](**args)
    if not isinstance(response, Response) or response.status_code != 200 or (
            response.is_streamed):
        return None
    return response.headers.get("ETag") or etag_of(response.get_data())


def finish(app: Flask) -> Callable[[Response], Response]:
    """after_request: Allow on GET/HEAD, If-None-Match -> 304, the write lock released.

    Every request ends here with a response (the error handlers turn every
    failure into one), which is why the lock is released here rather than in a
    teardown hook (Flask's teardown costs more per request than this whole hook).
    """
    allow = allowed_methods(app)

    def after(response: Response) -> Response:
        environ = request.environ
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            lock: threading.Lock | None = g.pop("write_lock", None)
            if lock is not None:
                lock.release()
            return response
        rule = request.url_rule
        return finish_read(response, environ, rule.rule if rule is not None else None, allow)

    return after


def finish_read(response: Response, environ: dict[str, Any], rule: str | None,
                allow: Callable[[str], str]) -> Response:
    """A GET or HEAD answered 200: Allow for its URL rule; 304 for a matching If-None-Match."""
    if response.status_code != 200:
        return response
    if rule is not None:
        response.headers["Allow"] = allow(rule)
    wanted = environ.get("HTTP_IF_NONE_MATCH")
    etag = response.headers.get("ETag") if wanted else None
    if etag and wanted and etag in {tag.strip() for tag in wanted.split(",")}:
        response.status_code = 304
        response.set_data(b"")
    return response
