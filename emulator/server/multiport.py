"""One asyncio event loop serving a WSGI app on many listening ports.

Why not one thread (or one waitress server) per BMC: 1000 BMCs would mean
1000 accept threads; and waitress has no TLS. Here every listening socket
belongs to one selector (epoll) loop, requests are framed there by h11
(emulator/server/connection.py) and the WSGI app runs on a small thread
pool, so a slow handler (a libvirt call to a remote daemon) never stalls the
other BMCs' sockets. A port can be closed (clients then get "connection
refused", as from a rebooting BMC) and reopened later on the same number.

The app learns which port a request came in on from ``SERVER_PORT`` (the
*local* port), which is how the emulator picks the BMC.

HTTP/1.1 as h11 implements it: keep-alive and pipelining, Content-Length and
chunked request bodies, ``Expect: 100-continue``, responses with
Content-Length or chunked (streamed bodies such as server-sent events).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from emulator.server import listening
from emulator.server.connection import HttpConnection, Listener, PortPolicy, WsgiApp
from emulator.server.pool import LoopInbox, WorkerPool
from emulator.server.spool import new_spool_file
from emulator.server.wsgi import Request, run_app

LOG = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 120.0


class HttpServerError(Exception):
    """A port could not be opened or closed."""


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
        self._pool = WorkerPool(worker_threads)
        self._loop = asyncio.new_event_loop()
        self._inbox = LoopInbox(self._loop)
        self._listeners: dict[int, Listener] = {}
        self._setting_up: set[asyncio.Task[None]] = set()  # connections being set up
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
        self._pool.shutdown()
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
        if listener is not None and listener.listening:
            return listener.port
        try:
            if listener is None or listener.sock is None:
                sock = listening.reserve(self.host, port)
                if listener is None:
                    listener = Listener(port=sock.getsockname()[1], app=app, policy=policy)
                listener.sock = sock
            listener.sock.listen(listening.BACKLOG)
        except OSError as exc:
            if listener is not None and listener.port not in self._listeners:
                self._forget_socket(listener)
            raise HttpServerError(f"cannot listen on {self.host}:{port}: {exc.strerror}") from exc
        self._listeners[listener.port] = listener
        self._start_accepting(listener, listener.epoch)
        listener.listening = True
        return listener.port

    def _start_accepting(self, listener: Listener, epoch: int) -> None:
        if listener.sock is not None and listener.epoch == epoch:
            self._loop.add_reader(listener.sock.fileno(), self._accept, listener)

    def _accept(self, listener: Listener) -> None:
        """New connections on a listening port (loop thread)."""
        assert listener.sock is not None
        context = listener.ssl_context or self.ssl_context
        epoch = listener.epoch
        try:
            for conn in listening.accept_ready(listener.sock):
                task = self._loop.create_task(listening.connect(
                    self._loop, conn, lambda: HttpConnection(self, listener, epoch), context))
                self._setting_up.add(task)
                task.add_done_callback(self._setting_up.discard)
        except OSError as exc:  # out of file descriptors: pause, as asyncio's own server does
            LOG.warning("port %d: cannot accept (%s); pausing for a second", listener.port, exc)
            self._loop.remove_reader(listener.sock.fileno())
            self._loop.call_later(1.0, self._start_accepting, listener, epoch)

    @staticmethod
    def _forget_socket(listener: Listener) -> None:
        if listener.sock is not None:
            listener.sock.close()
            listener.sock = None

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
        if listener.listening:
            listener.listening = False
            assert listener.sock is not None
            self._loop.remove_reader(listener.sock.fileno())
            if not listening.stop_listening(listener.sock):
                self._forget_socket(listener)
        listener.epoch += 1
        for connection in list(listener.connections):
            connection.abort()
        if forget:
            self._forget_socket(listener)
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

    def replace_tls(self, port: int, context: ssl.SSLContext) -> None:
        """Serve new connections on ``port`` with ``context`` (a replaced certificate).

        Connections already open keep the certificate they were made with, as
        on a BMC whose web server reloads.
        HttpServerError for a port this server never opened or without TLS.
        """
        if self.ssl_context is None:
            raise HttpServerError("the server does not use TLS")
        self._call(self._replace_tls(port, context))

    async def _replace_tls(self, port: int, context: ssl.SSLContext) -> None:
        self._listener(port).ssl_context = context  # taken by the next accepted connection

    def is_open(self, port: int) -> bool:
        listener = self._listeners.get(port)
        return listener is not None and listener.listening

    def policy(self, port: int) -> PortPolicy:
        """The live fault policy of ``port``; HttpServerError if this server never opened it."""
        return self._listener(port).policy

    def _listener(self, port: int) -> Listener:
        listener = self._listeners.get(port)
        if listener is None:
            raise HttpServerError(f"port {port} is not managed by this server")
        return listener

    # requests -------------------------------------------------------------------
    def dispatch(self, connection: HttpConnection, environ: dict[str, Any], close: bool,
                 listener: Listener) -> None:
        """Run the app for one parsed request (called on the loop by HttpConnection).

        close: the connection closes after the answer (an oversized body).
        """
        policy = listener.policy
        if policy.blackhole:
            return  # never answer; the connection stays busy until the client gives up
        request = Request(connection, environ, close, listener.app)
        if policy.delay_s > 0:
            self._loop.call_later(policy.delay_s, self._submit, request)
        else:
            self._submit(request)

    def _submit(self, request: Request) -> None:
        try:
            self._pool.submit(run_app, self._inbox, request)
        except RuntimeError:  # pool shut down: the server is stopping
            request.connection.abort()

    async def _sweep_idle(self) -> None:
        while True:
            await asyncio.sleep(IDLE_TIMEOUT_S / 4)
            cutoff = time.monotonic() - IDLE_TIMEOUT_S
            for listener in list(self._listeners.values()):
                for connection in list(listener.connections):
                    if not connection.busy and connection.last_activity < cutoff:
                        connection.close()
