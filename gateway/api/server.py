"""Serving the API app: a threaded WSGI server on one address, HTTP or HTTPS.

Werkzeug's threaded server is used because it serves TLS with a standard
`ssl.SSLContext` (waitress cannot), which the issue requires ("HTTPS with a
certificate from config"); the API's load is a handful of operators and a
scraper, far below what it handles.
"""

from __future__ import annotations

import logging
import ssl
import threading
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from gateway.tls import server_tls_context

LOG = logging.getLogger(__name__)


class ApiServerError(Exception):
    """The API server could not start (address in use, bad certificate)."""


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the gateway.api.access logger at DEBUG, never to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("gateway.api.access").debug(
            "%s %s %s", self.command, self.path.split("?", 1)[0], code)

    def log(self, type: str, message: str, *args: object) -> None:  # noqa: A002
        logging.getLogger("gateway.api.access").debug(message, *args)


def tls_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context. Raises ApiServerError naming the unreadable file."""
    try:
        return server_tls_context(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ApiServerError(f"cannot load API certificate {certfile}: {exc}") from exc


class ApiServer:
    """Serves `app` on host:port (port 0 = any free port) until `stop`."""

    def __init__(self, app: Flask, host: str, port: int,
                 tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:8443 (the bound port once started)."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread. Raises ApiServerError."""
        try:
            self._server = make_server(self.host, self.port, self.app, threaded=True,
                                       ssl_context=self.tls, request_handler=_QuietHandler)
        except (OSError, SystemExit) as exc:
            raise ApiServerError(f"API cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="api-server", daemon=True)
        self._thread.start()
        LOG.info("API and dashboard at %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
