"""The WSGI server the API and the BMC event receiver share (bind, serve, stop): the
front door's event-loop server (gateway.frontdoor.wsgi_server), so both enforce the
front-door policy (deadlines, per-client and global connection limits) and a slow
client never holds a worker thread."""

from __future__ import annotations

import ssl
from typing import Any

from gateway.frontdoor.policy import DEFAULTS, FrontDoorPolicy
from gateway.frontdoor.wsgi_server import FrontDoorWsgiServer


class WsgiThread(FrontDoorWsgiServer):
    """Serves ``app`` on host:port (port 0 = any free port) from ``start`` to ``stop``.

    ``handler`` is accepted for callers written for werkzeug's request handlers and
    ignored: access lines are not logged (paths can carry capability tokens).
    ``policy`` defaults to the API's front-door defaults.
    """

    def __init__(self, name: str, host: str, port: int, app: Any,
                 tls: ssl.SSLContext | None = None, handler: object | None = None,
                 *, policy: FrontDoorPolicy | None = None,
                 max_body_bytes: int = 1024 * 1024) -> None:
        super().__init__(name, host, port, app, policy=policy or DEFAULTS["api"], tls=tls,
                         max_body_bytes=max_body_bytes)
