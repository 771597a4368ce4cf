"""Running the WSGI app for one request on a worker thread.

The worker never touches the socket or h11: every write goes back to the
event loop thread through the server's LoopInbox, in order. A response with a
Content-Length, or one that has no body by its status (204, 304: Werkzeug
leaves their Content-Length out), is sent in one piece; one without
(server-sent events, which may last for hours) streams from a thread of its
own so it does not hold a pool worker.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from emulator.server.checks import BODYLESS
from emulator.server.connection import HttpConnection, WsgiApp
from emulator.server.pool import LoopInbox

LOG = logging.getLogger(__name__)
_BODYLESS_STATUS = frozenset(str(code) for code in BODYLESS)


class Request(NamedTuple):
    """A parsed request on its way from the event loop to a worker thread.

    close: the connection must close after the answer (an oversized body).
    """

    connection: HttpConnection
    environ: dict[str, Any]
    close: bool
    app: WsgiApp


def run_app(inbox: LoopInbox, request: Request) -> None:
    """Call the app and send its answer (worker thread)."""
    connection, environ, close, app = request
    state: dict[str, Any] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        state["status"] = status
        state["headers"] = headers
        return write

    def write(data: bytes) -> None:  # the legacy WSGI write(); no app here uses it
        inbox.put(connection.send_body, data)

    result: Iterable[bytes] = ()
    try:
        result = app(environ, start_response)
        chunks = iter(result)
        first: list[bytes] = []
        if "headers" not in state:
            # A generator app calls start_response at its first step.
            first = [chunk for chunk in [next(chunks, b"")] if chunk]
        declared = (state["status"][:3] in _BODYLESS_STATUS
                    or any(name.lower() == "content-length" for name, _ in state["headers"]))
        if declared:
            body = b"".join(first) + b"".join(chunks)
            inbox.put(connection.respond, state["status"], state["headers"], body, close)
        else:
            rest = itertools.chain(first, chunks)
            threading.Thread(target=_stream, args=(inbox, request, state, result, rest),
                             daemon=True, name="wsgi-stream").start()
            return
    except Exception:  # the app must never take the server down
        LOG.exception("unhandled error serving %s", environ.get("PATH_INFO"))
        inbox.put(connection.abort)
    _close(result, environ)


def _stream(inbox: LoopInbox, request: Request, state: dict[str, Any],
            result: Iterable[bytes], chunks: Iterable[bytes]) -> None:
    connection, environ, close, _app = request
    try:
        inbox.put(connection.start_response, state["status"], state["headers"], close)
        for chunk in chunks:
            if connection.closing:  # the client went away
                break
            if chunk:
                inbox.put(connection.send_body, chunk)
        else:
            inbox.put(connection.end_response)
    except Exception:
        LOG.exception("error streaming %s", environ.get("PATH_INFO"))
        inbox.put(connection.abort)
    _close(result, environ)


def _close(result: Iterable[bytes], environ: dict[str, Any]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()
    with contextlib.suppress(Exception):
        environ["wsgi.input"].close()
