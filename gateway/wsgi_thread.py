"""A werkzeug threaded WSGI server in a daemon thread: what the API and the BMC event
receiver share (bind, serve, stop). Werkzeug because it serves TLS from a standard
``ssl.SSLContext``; both loads are small (operators, a scraper, BMC events)."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


def quiet_request_handler(access_log: logging.Logger,
                          redact: Callable[[str], str] = str) -> type[WSGIRequestHandler]:
    """A request handler that writes its access and error lines to `access_log` at DEBUG,
    through `redact` (e.g. to blank a token out of the path), never to stderr."""

    class QuietRequestHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            access_log.debug("%s %s %s", self.command, redact(self.path.split("?", 1)[0]),
                             code)

        def log(self, type: str, message: str, *args: object) -> None:  # noqa: A002
            access_log.debug("%s", redact(message % args if args else message))

    return QuietRequestHandler


class WsgiThread:
    """Serves ``app`` on host:port (port 0 = any free port) from ``start`` to ``stop``."""

    def __init__(self, name: str, host: str, port: int, app: Any,
                 tls: ssl.SSLContext | None = None,
                 handler: type[WSGIRequestHandler] | None = None) -> None:
        self.name = name
        self.host = host
        self.port = port
        self._app = app
        self._tls = tls
        self._handler = handler
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> int:
        """Bind and serve; returns the bound port. Raises OSError when it cannot bind
        (werkzeug's SystemExit for a busy port becomes OSError)."""
        try:
            server = make_server(self.host, self.port, self._app, threaded=True,
                                 ssl_context=self._tls, request_handler=self._handler)
        except SystemExit as exc:
            raise OSError(f"address {self.host}:{self.port} is not available") from exc
        self._server = server
        self.port = server.server_port
        self._thread = threading.Thread(target=server.serve_forever, name=self.name,
                                        daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
