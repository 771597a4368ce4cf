"""Connection-level hardening of the socketserver pywbem's listener runs on."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

LOG = logging.getLogger("gateway.cim.listener")


def log_connection_error(request: object, client_address: tuple[str, int]) -> None:
    """One log line instead of socketserver's traceback on stderr (TLS handshake failures,
    clients hanging up mid-request)."""
    error = sys.exc_info()[1]
    LOG.warning("connection from %s failed: %s", client_address[0],
                error.__class__.__name__ if error is not None else "unknown error")


def limit_connections(server: Any, limit: int) -> None:
    """Cap concurrent connections: socketserver's ThreadingMixIn starts a thread for every
    one, so a flood of idle connections could otherwise exhaust the process. Connections
    over the cap are closed at once (the sender sees a reset and retries later)."""
    slots = threading.BoundedSemaphore(limit)
    spawn = server.process_request
    serve_one = server.process_request_thread

    def process_request(request: Any, client_address: tuple[str, int]) -> None:
        if not slots.acquire(blocking=False):
            LOG.warning("refusing connection from %s: %d connections open",
                        client_address[0], limit)
            server.shutdown_request(request)
            return
        try:
            spawn(request, client_address)
        except BaseException:
            slots.release()
            raise

    def process_request_thread(request: Any, client_address: tuple[str, int]) -> None:
        try:
            serve_one(request, client_address)
        finally:
            slots.release()

    server.process_request = process_request
    server.process_request_thread = process_request_thread
