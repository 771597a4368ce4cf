"""Plain GETs of Redfish resources without Flask's request machinery.

Polling GETs are nearly all of an emulated BMC's traffic, and the process is
GIL-bound, so CPU per GET is its throughput. Profiled under
bench/emulator_scale.py, Flask's part of a GET (request context, URL adapter
per request, hooks, signals, dispatch) cost more than the view building the
document. This WSGI layer answers such a GET itself, running the same code
the Flask path runs, in the same order:

- ``admit`` (app.py): faults, protocol refusals, authentication, privilege;
- the view function, which builds the document and its headers;
- ``protocol.finish_read``: Allow, and 304 for a matching If-None-Match;
- the app's own error renderers for a RedfishError or BackendError;
- Werkzeug's response object turns the answer into WSGI, as under Flask
  (a plain 200 directly: status, header list and body).

The view runs inside an application context (``g`` and ``current_app``),
not a request context. Anything out of the ordinary goes to Flask before a
step with a side effect (authentication counts failed logins): another
method, a query string, a request body, a path that is not ASCII or does not
match a GET route, a BMC with an active fault. A view that needs the request
object, or fails unexpectedly, is run again by Flask: a GET changes nothing,
so running it twice is harmless. tests/unit/emulator/test_emulator_fast_get.py
compares both paths for every GET-able resource of a node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from emulator.bmc import Bmc
from emulator.errors import BackendError, RedfishError
from emulator.redfish import protocol

LOG = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Admit = Callable[[Flask, Bmc, dict[str, Any], str, Callable[..., Any] | None, int], None]


class FastGet:
    """WSGI: answers plain GETs and HEADs itself, everything else through ``fallback``."""

    def __init__(self, app: Flask, find_bmc: Callable[[int], Bmc | None], max_body_bytes: int,
                 fallback: WsgiApp, *, admit: Admit,
                 render_error: Callable[[RedfishError], Response],
                 render_backend_error: Callable[[BackendError, str, str], Response]) -> None:
        self.app = app
        self.fallback = fallback
        self._find_bmc = find_bmc
        self._max_body_bytes = max_body_bytes
        self._admit = admit
        self._render_error = render_error
        self._render_backend_error = render_backend_error
        self._allow = protocol.allowed_methods(app)
        self._adapter: MapAdapter | None = None  # bound on first use: blueprints come first

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        response = self.answer(environ)
        if response is None:
            return self.fallback(environ, start_response)
        if response.status_code != 200 or response.is_streamed or "Location" in response.headers:
            return response(environ, start_response)
        # What Werkzeug's get_wsgi_response gives for such an answer (its body is
        # bytes, so Content-Length is set), without copying the headers first.
        start_response(response.status, response.headers.to_wsgi_list())
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [response.get_data()]

    def answer(self, environ: dict[str, Any]) -> Response | None:
        """The response to ``environ``, or None when Flask must answer it."""
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if (method not in ("GET", "HEAD") or environ.get("QUERY_STRING")
                or "CONTENT_LENGTH" in environ or not path.isascii()):
            return None
        found = self._find_bmc(int(environ.get("SERVER_PORT") or 0))
        if found is None or found.faults.all():
            return None
        if self._adapter is None:
            self._adapter = self.app.url_map.bind("127.0.0.1")
        try:
            rule, args = self._adapter.match(path, method, return_rule=True)
        except HTTPException:  # no such route (404/405) or a redirect: Flask's answer
            return None
        view = self.app.view_functions[rule.endpoint]
        path = "/" + path.lstrip("/")  # as werkzeug's request.path
        with self.app.app_context():
            g.bmc = found
            try:
                self._admit(self.app, found, environ, path, view, self._max_body_bytes)
                response = view(**args)
            except RedfishError as error:
                return self._render_error(error)
            except BackendError as error:
                return self._render_backend_error(error, method, path)
            except Exception:  # needs the request object, or a bug: Flask runs it again
                LOG.debug("GET %s falls back to Flask", path, exc_info=True)
                return None
        if not isinstance(response, Response):
            return None
        return protocol.finish_read(response, environ, rule.rule, self._allow)
