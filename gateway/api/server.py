"""Serving the API app: a threaded WSGI server on one address, HTTP or HTTPS.

Werkzeug's threaded server is used because it serves TLS with a standard
`ssl.SSLContext`, for HTTPS with a certificate from config (docs/api.md,
"Configuration"); the API's load is a handful of operators and a scraper, far
below what it handles.
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from flask import Flask

from gateway.api.errors import ApiError
from gateway.frontdoor.policy import FrontDoorPolicy, FrontDoorStats
from gateway.tls import server_tls_context
from gateway.wsgi_thread import WsgiThread

LOG = logging.getLogger(__name__)
ACCESS_LOG = logging.getLogger("gateway.api.access")  # request lines, at DEBUG


class ApiServerError(ApiError):
    """The API server could not start (address in use, bad certificate)."""


def tls_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context. Raises ApiServerError naming the unreadable file."""
    try:
        return server_tls_context(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ApiServerError(f"cannot load API certificate {certfile}: {exc}") from exc


class ApiServer:
    """Serves `app` on host:port (port 0 = any free port) until `stop`."""

    def __init__(self, app: Flask, host: str, port: int,
                 tls: ssl.SSLContext | None = None, *,
                 policy: FrontDoorPolicy | None = None) -> None:
        self.app = app
        self.host = host
        self.tls = tls
        self._serving = WsgiThread("api-server", host, port, app, tls, policy=policy)

    def front_door_stats(self) -> FrontDoorStats:
        """Open connections and front-door refusals (for /metrics)."""
        return self._serving.slots.stats()

    @property
    def port(self) -> int:
        """The bound port once started (the configured one before)."""
        return self._serving.port

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:8443 (the bound port once started)."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve in a daemon thread. Raises ApiServerError."""
        try:
            self._serving.start()
        except OSError as exc:
            raise ApiServerError(f"API cannot listen on {self.host}:{self.port}: {exc}") from exc
        LOG.info("API and dashboard at %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        self._serving.stop()
