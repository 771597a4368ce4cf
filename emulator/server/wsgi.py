"""Running the WSGI app for one request on a worker thread.

The worker never touches the socket or h11: every write goes back to the
event loop thread through call_soon_threadsafe, in order. A response with a
Content-Length is sent in one piece; one without (server-sent events, which
may last for hours) streams from a thread of its own so it does not hold a
pool worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from emulator.server.connection import HttpConnection, WsgiApp

LOG = logging.getLogger(__name__)


class Request(NamedTuple):
    """A parsed request on its way from the event loop to a worker thread.

    close: the connection must close after the answer (an oversized body).
    """

    connection: HttpConnection
    environ: dict[str, Any]
    close: bool
    app: WsgiApp


def run_app(loop: asyncio.AbstractEventLoop, request: Request) -> None:
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
        loop.call_soon_threadsafe(connection.send_body, data)

    def to_loop(callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            loop.call_soon_threadsafe(callback, *args)

    result: Iterable[bytes] = ()
    try:
        result = app(environ, start_response)
        chunks = iter(result)
        first: list[bytes] = []
        if "headers" not in state:
            # A generator app calls start_response at its first step.
            first = [chunk for chunk in [next(chunks, b"")] if chunk]
        declared = any(name.lower() == "content-length" for name, _ in state["headers"])
        if declared:
            body = b"".join(first) + b"".join(chunks)
            to_loop(connection.respond, state["status"], state["headers"], body, close)
        else:
            threading.Thread(
                target=_stream, args=(loop, request, state, result, itertools.chain(first, chunks)),
                daemon=True, name="wsgi-stream").start()
            return
    except Exception:  # the app must never take the server down
        LOG.exception("unhandled error serving %s", environ.get("PATH_INFO"))
        to_loop(connection.abort)
    _close(result, environ)


def _stream(loop: asyncio.AbstractEventLoop, request: Request, state: dict[str, Any],
            result: Iterable[bytes], chunks: Iterable[bytes]) -> None:
    connection, environ, close, _app = request
    try:
        loop.call_soon_threadsafe(connection.start_response, state["status"], state["headers"],
                                  close)
        for chunk in chunks:
            if connection.closing:  # the client went away
                break
            if chunk:
                loop.call_soon_threadsafe(connection.send_body, chunk)
        else:
            loop.call_soon_threadsafe(connection.end_response)
    except RuntimeError:  # loop closed during shutdown
        pass
    except Exception:
        LOG.exception("error streaming %s", environ.get("PATH_INFO"))
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(connection.abort)
    _close(result, environ)


def _close(result: Iterable[bytes], environ: dict[str, Any]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()
    with contextlib.suppress(Exception):
        environ["wsgi.input"].close()
