"""A loopback HTTP server (keep-alive, quiet) served from a thread for a with block."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that keeps connections alive unless the client asks to close, and logs
    nothing to stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


class LoopbackServer(ThreadingHTTPServer):
    """A threading server on 127.0.0.1 and a free port."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)


_S = TypeVar("_S", bound=ThreadingHTTPServer)


@contextmanager
def serving(httpd: _S) -> Iterator[_S]:
    """Serve ``httpd`` on a daemon thread; shut it down and close its socket on exit."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
