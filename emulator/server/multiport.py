"""One asyncio event loop serving a WSGI app on many listening ports.

Why not one thread (or one waitress server) per BMC: 1000 BMCs would mean
1000 accept threads; and waitress has no TLS. Here every listening socket
belongs to one selector (epoll) loop, requests are parsed on the loop and the
WSGI app runs on a small thread pool, so a slow handler (a libvirt call to a
remote daemon) never stalls the other BMCs' sockets. A port can be closed
(clients then get "connection refused", as from a rebooting BMC) and reopened
later on the same number.

The app learns which port a request came in on from ``SERVER_PORT`` (the
*local* port), which is how the emulator picks the BMC.

Only what Redfish clients use is implemented: HTTP/1.0 and 1.1, keep-alive,
Content-Length and chunked request bodies, ``Expect: 100-continue``, responses
with Content-Length or chunked (streamed bodies such as server-sent events).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Any, NamedTuple

from emulator.server.connection import HttpConnection, Listener, PortPolicy, WsgiApp
from emulator.server.spool import new_spool_file

LOG = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 120.0


class HttpServerError(Exception):
    """A port could not be opened or closed."""


class _Request(NamedTuple):
    """A parsed request on its way from the event loop to a worker thread."""

    connection: HttpConnection
    environ: dict[str, Any]
    keep_alive: bool
    discard: int
    listener: Listener


class MultiPortServer:
    """Serve WSGI apps on many 127.0.0.1 ports from one event loop thread.

    max_body_bytes: request bodies above this are not buffered; the app sees
    the real CONTENT_LENGTH with an empty body and should answer 413.
    worker_threads: size of the pool that runs the WSGI app.
    spool_file: makes the file a large request body is written to (on a
    thread of its own, never on the event loop).
    call_timeout_s: how long open/close/reopen wait for the event loop before
    giving up with HttpServerError (the call is then dropped, not done late).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        max_body_bytes: int = 64 << 20,
        worker_threads: int = 8,
        spool_file: Callable[[], IO[bytes]] = new_spool_file,
        call_timeout_s: float = 30.0,
    ) -> None:
        self.host = host
        self.call_timeout_s = call_timeout_s
        self.spool_file = spool_file
        self.ssl_context = ssl_context
        self.max_body_bytes = max_body_bytes
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=worker_threads, thread_name_prefix="wsgi"
        )
        self._loop = asyncio.new_event_loop()
        self._listeners: dict[int, Listener] = {}
        self._thread = threading.Thread(target=self._run, name="http-loop", daemon=True)
        self._started = False
        # Set for good by stop(): a BMC restart thread may wake after the cluster
        # stopped and ask for its port back; a stopping server keeps every port closed.
        self._stopping = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop every port is served from."""
        return self._loop

    # life cycle -------------------------------------------------------------
    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        sweeper = self._loop.create_task(self._sweep_idle())
        self._loop.run_forever()
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(sweeper)

    def stop(self) -> None:
        """Close every port and stop the loop (idempotent)."""
        if not self._started:
            return
        self._stopping = True
        for port in list(self._listeners):
            with contextlib.suppress(HttpServerError):
                self._call(self._close(port, forget=True))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._started = False

    def _call(self, coro: Any) -> Any:
        """Run ``coro`` on the loop and wait for it; HttpServerError if the loop does not answer.

        A call that timed out is abandoned: if the loop gets to it later it
        does nothing. Otherwise a port close the caller gave up on would land
        after the caller's "reopen if closed" check, and the port (a BMC after
        its restart) would stay closed for good.
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise HttpServerError("must not be called from the event loop thread")
        abandoned = threading.Event()

        async def unless_abandoned() -> Any:
            if abandoned.is_set():
                coro.close()
                return None
            return await coro

        future = asyncio.run_coroutine_threadsafe(unless_abandoned(), self._loop)
        try:
            return future.result(self.call_timeout_s)
        except concurrent.futures.TimeoutError:
            abandoned.set()
            raise HttpServerError(
                f"the server's event loop did not answer within {self.call_timeout_s:g} s"
            ) from None

    # ports --------------------------------------------------------------------
    def open_port(self, port: int, app: WsgiApp, policy: PortPolicy | None = None) -> int:
        """Listen on ``port`` (0 picks a free one); returns the bound port number.

        Raises HttpServerError if the port is busy or the server is stopping.
        """
        return int(self._call(self._open(port, app, policy or PortPolicy())))

    async def _open(self, port: int, app: WsgiApp, policy: PortPolicy) -> int:
        if self._stopping:
            raise HttpServerError(f"cannot listen on {self.host}:{port}: the server is stopping")
        listener = self._listeners.get(port) if port else None
        if listener is None:
            listener = Listener(port=port, app=app, policy=policy)
        if listener.server is not None:
            return listener.port
        try:
            server = await self._loop.create_server(
                lambda: HttpConnection(self, listener),
                host=self.host,
                port=port,
                ssl=self.ssl_context,
                reuse_address=True,
                backlog=128,
            )
        except OSError as exc:
            raise HttpServerError(f"cannot listen on {self.host}:{port}: {exc.strerror}") from exc
        listener.server = server
        listener.port = int(server.sockets[0].getsockname()[1])
        self._listeners[listener.port] = listener
        return listener.port

    def close_port(self, port: int, *, forget: bool = False) -> None:
        """Stop listening on ``port`` and drop its open connections.

        Until reopen_port() the port refuses connections. forget=True also
        discards the app binding. Does nothing once stop() has begun (every port
        is closed then); otherwise HttpServerError for a port this server never opened.
        """
        if self._stopping:
            return
        self._call(self._close(port, forget))

    async def _close(self, port: int, forget: bool) -> None:
        listener = self._listener(port)
        if listener.server is not None:
            listener.server.close()
            listener.server = None
        for connection in list(listener.connections):
            connection.abort()
        if forget:
            del self._listeners[port]

    def reopen_port(self, port: int) -> None:
        """Listen again on a port closed with close_port().

        Does nothing once stop() has begun: a stopped server keeps its ports closed.
        HttpServerError for a port this server never opened, or if the port is busy.
        """
        if self._stopping:
            return
        listener = self._listener(port)
        try:
            self._call(self._open(port, listener.app, listener.policy))
        except HttpServerError:
            if not self._stopping:  # stop() began while the request was on its way
                raise

    def is_open(self, port: int) -> bool:
        listener = self._listeners.get(port)
        return listener is not None and listener.server is not None

    def policy(self, port: int) -> PortPolicy:
        """The live fault policy of ``port``; HttpServerError if this server never opened it."""
        return self._listener(port).policy

    def _listener(self, port: int) -> Listener:
        listener = self._listeners.get(port)
        if listener is None:
            raise HttpServerError(f"port {port} is not managed by this server")
        return listener

    # requests -------------------------------------------------------------------
    def dispatch(
        self,
        connection: HttpConnection,
        environ: dict[str, Any],
        keep_alive: bool,
        discard: int,
        listener: Listener,
    ) -> None:
        """Run the app for one parsed request (called on the loop by HttpConnection).

        discard: body bytes still to skip after the answer (an unread oversized body).
        """
        policy = listener.policy
        if policy.blackhole:
            return  # never answer; the connection stays busy until the client gives up
        request = _Request(connection, environ, keep_alive, discard, listener)
        if policy.delay_s > 0:
            self._loop.call_later(policy.delay_s, self._submit, request)
        else:
            self._submit(request)

    def _submit(self, request: _Request) -> None:
        try:
            self._pool.submit(self._run_app, request)
        except RuntimeError:  # pool shut down: the server is stopping
            request.connection.abort()

    def _run_app(self, request: _Request) -> None:
        connection, environ, keep_alive, discard, listener = request
        loop = self._loop
        state: dict[str, Any] = {"head": None, "chunked": False, "sent": False}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            state["status"] = status
            state["headers"] = headers
            return lambda data: emit(data)

        def head_bytes(body_len: int | None) -> bytes:
            lines = [f"HTTP/1.1 {state['status']}"]
            names = set()
            for name, value in state["headers"]:
                names.add(name.lower())
                lines.append(f"{name}: {value}")
            if "content-length" not in names:
                if body_len is not None:
                    lines.append(f"Content-Length: {body_len}")
                else:
                    state["chunked"] = True
                    lines.append("Transfer-Encoding: chunked")
            lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        def emit(data: bytes) -> None:
            if not state["sent"]:
                state["sent"] = True
                loop.call_soon_threadsafe(connection.write, head_bytes(None))
            if data:
                payload = b"%x\r\n%s\r\n" % (len(data), data) if state["chunked"] else data
                loop.call_soon_threadsafe(connection.write, payload)

        def finish(result: Iterable[bytes], keep: bool) -> None:
            close = getattr(result, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
            with contextlib.suppress(Exception):
                environ["wsgi.input"].close()
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(connection.finish_request, keep, discard)

        def stream(result: Iterable[bytes], chunks: Iterable[bytes]) -> None:
            keep = keep_alive
            try:
                for chunk in chunks:
                    emit(chunk)
                    if connection.closing:  # the client went away
                        keep = False
                        break
                if not state["sent"]:
                    emit(b"")
                if state["chunked"]:
                    loop.call_soon_threadsafe(connection.write, b"0\r\n\r\n")
            except Exception:
                LOG.exception("error streaming %s", environ.get("PATH_INFO"))
                keep = False
            finish(result, keep)

        result: Iterable[bytes] = ()
        try:
            result = listener.app(environ, start_response)
            chunks = iter(result)
            first: list[bytes] = []
            if "headers" not in state:
                # A generator app calls start_response at its first step.
                first = [chunk for chunk in [next(chunks, b"")] if chunk]
            declared = any(name.lower() == "content-length" for name, _ in state["headers"])
            if declared:
                # The usual case: one write with head and body together.
                body = b"".join(first) + b"".join(chunks)
                loop.call_soon_threadsafe(connection.write, head_bytes(None) + body)
            else:
                # A streamed body (server-sent events) may last for hours: give
                # it its own thread rather than holding a pool worker.
                threading.Thread(target=stream, args=(result, itertools.chain(first, chunks)),
                                 daemon=True, name="wsgi-stream").start()
                return
        except Exception:  # the app must never take the server down
            LOG.exception("unhandled error serving %s", environ.get("PATH_INFO"))
            if not state["sent"]:
                loop.call_soon_threadsafe(connection.abort)
            finish(result, False)
            return
        finish(result, keep_alive)

    async def _sweep_idle(self) -> None:
        while True:
            await asyncio.sleep(IDLE_TIMEOUT_S / 4)
            cutoff = time.monotonic() - IDLE_TIMEOUT_S
            for listener in list(self._listeners.values()):
                for connection in list(listener.connections):
                    if not connection.busy and connection.last_activity < cutoff:
                        connection.close()
