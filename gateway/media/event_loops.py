"""N asyncio event loops in N threads, sharing listening ports through SO_REUSEPORT.

Why several loops: request handling and writability waits are cheap but
serialised per loop; one loop per core keeps many hundreds of connections
responsive while fast readers are served by the shared sender lanes (see
gateway.media.connections). The kernel spreads new connections over the loops'
sockets. Where SO_REUSEPORT is missing, one loop is used.

Plain listeners accept raw sockets (SocketConnection); TLS listeners use asyncio
streams (StreamConnection).

Taking in a fleet that connects at once is Python work per connection on one
interpreter, so the accept path does as little as it can (docs/performance.md,
front door): the listening socket is TCP_DEFER_ACCEPT, so accept() returns a
connection once its request head has arrived and the first recv() finds it (no
future, reader registration and extra loop turn per connection); TCP_NODELAY is
set once on the listener (accepted sockets inherit it); the peer address comes
from accept(); and the loops use a selector that answers asyncio's "is this fd
registered?" without building two formatted KeyErrors per registration, and
skip asyncio's "does a transport own this fd?" lookup when none can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import selectors
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from gateway.media.connections import (
    Connection,
    LoopShare,
    SocketConnection,
    StreamConnection,
)
from gateway.media.sender_lanes import SenderLanes

log = logging.getLogger(__name__)
# Connections taken per loop turn. When thousands of readers keep a loop busy, a
# turn can take a good fraction of a second on a loaded machine; at 128 a turn,
# 10,000 BMCs mounting at once waited in (and overflowed) the accept queue for
# tens of seconds (bench/front_door.py).
ACCEPT_BATCH = 2048
# A connection that sends nothing waits in the kernel this long before accept()
# returns it anyway (then the head deadline runs as usual). Linux; 0 elsewhere.
DEFER_ACCEPT_S = 1
# A handler returns True when it left the connection open to a detached body send
# (see SocketConnection.send_detached); the connection is closed otherwise.
Handler = Callable[[Connection], Coroutine[Any, Any, bool]]


@dataclass(frozen=True)
class Listener:
    """One address to listen on; tls=None for plain HTTP."""

    scheme: str
    host: str
    port: int
    tls: ssl.SSLContext | None = None


@dataclass
class _Loop:
    thread: threading.Thread | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stopped: asyncio.Event | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    streams: set[StreamConnection] = field(default_factory=set)
    share: LoopShare | None = None  # plain connections' shared state, tasks, detached sends


class _KeyedSelector(selectors.DefaultSelector):
    """The default selector with an exception-free lookup by descriptor.

    asyncio calls get_key(fd) before every add_reader/add_writer, and the stock
    selector answers "not registered" by raising and re-raising a KeyError with a
    formatted message: on the accept path of 10,000 connections that was a tenth
    of the loop's time (py-spy, bench/front_door.py).
    """

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key: selectors.SelectorKey = super().register(fileobj, events, data)
        self._keys[key.fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key: selectors.SelectorKey = super().unregister(fileobj)
        self._keys.pop(key.fd, None)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key: selectors.SelectorKey = super().modify(fileobj, events, data)
        self._keys[key.fd] = key
        return key

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        if type(fileobj) is not int:
            key: selectors.SelectorKey = super().get_key(fileobj)
            return key
        found = self._keys.get(fileobj)
        if found is None:
            raise KeyError(fileobj)
        return found

    def close(self) -> None:
        super().close()
        self._keys.clear()


class _MediaLoop(asyncio.SelectorEventLoop):
    """A selector loop whose add/remove_writer skip a failing dictionary lookup.

    Before every add_writer, remove_writer and socket wait asyncio checks that no
    transport owns the descriptor by looking it up in a weak dictionary, which
    raises KeyError for every plain connection (a tenth of the loop's time per
    body send, py-spy). A loop without transports (no TLS listener) cannot have
    such a conflict; with transports the full check runs.
    """

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        if type(fd) is int and not self._transports:  # type: ignore[attr-defined]
            return
        super()._ensure_fd_no_transport(fd)  # type: ignore[misc]


def _new_loop() -> asyncio.AbstractEventLoop:
    return _MediaLoop(_KeyedSelector())


class LoopGroup:
    """Runs `handler` for every connection on `listeners`, in `count` loop threads."""

    def __init__(self, listeners: list[Listener], handler: Handler, *, count: int,
                 head_limit: int, senders: SenderLanes, send_timeout_s: float,
                 handshake_timeout_s: float = 10.0, backlog: int = 4096) -> None:
        reuse = hasattr(socket, "SO_REUSEPORT")
        self._count = max(1, count if reuse else 1)
        self._reuse_port = reuse and self._count > 1
        self._listeners = listeners
        self._handler = handler
        self._head_limit = head_limit
        self._senders = senders
        self._send_timeout = send_timeout_s
        self._backlog = backlog
        self._handshake_timeout = handshake_timeout_s
        self._loops: list[_Loop] = []
        self.ports: dict[str, int] = {}

    def start(self) -> None:
        """Start every loop; returns once all listen. Raises OSError if binding fails."""
        for index in range(self._count):
            state = _Loop()
            state.thread = threading.Thread(target=self._run, args=(state,), daemon=True,
                                            name=f"media-loop-{index}")
            self._loops.append(state)
            state.thread.start()
            state.ready.wait()
            if state.error is not None:
                self.stop()
                raise OSError(f"cannot listen: {state.error}")

    def stop(self) -> None:
        """Close listeners, end connections and join the threads (idempotent)."""
        for state in self._loops:
            if state.loop is not None and state.stopped is not None:
                with contextlib.suppress(RuntimeError):  # loop already closed
                    state.loop.call_soon_threadsafe(state.stopped.set)
        for state in self._loops:
            if state.thread is not None and state.thread is not threading.current_thread():
                state.thread.join(timeout=10)

    def _run(self, state: _Loop) -> None:
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            runner.run(self._serve(state))

    async def _serve(self, state: _Loop) -> None:
        state.loop = asyncio.get_running_loop()
        state.stopped = asyncio.Event()
        state.share = LoopShare(self._senders, self._send_timeout)
        servers: list[asyncio.Server] = []
        sockets: list[socket.socket] = []
        acceptors: list[asyncio.Task[None]] = []
        try:
            for listener in self._listeners:
                port = self.ports.get(listener.scheme, listener.port)
                if listener.tls is None:
                    sock = self._listen(listener.host, port,
                                        first=listener.scheme not in self.ports)
                    sockets.append(sock)
                    acceptors.append(asyncio.create_task(self._accept(state, sock)))
                    bound = sock.getsockname()[1]
                else:
                    server = await asyncio.start_server(
                        lambda r, w: self._on_stream(state, r, w), listener.host, port,
                        limit=self._head_limit, ssl=listener.tls, backlog=self._backlog,
                        ssl_handshake_timeout=self._handshake_timeout,
                        reuse_port=self._reuse_port)
                    servers.append(server)
                    bound = server.sockets[0].getsockname()[1]
                self.ports.setdefault(listener.scheme, bound)
        except OSError as exc:
            state.error = exc
            await self._shutdown(state, servers, sockets, acceptors)
            state.ready.set()
            return
        state.ready.set()
        await state.stopped.wait()
        await self._shutdown(state, servers, sockets, acceptors)

    async def _shutdown(self, state: _Loop, servers: list[asyncio.Server],
                        sockets: list[socket.socket], acceptors: list[asyncio.Task[None]]
                        ) -> None:
        for server in servers:
            server.close()
        for task in acceptors:
            task.cancel()
        for sock in sockets:
            sock.close()
        for stream in list(state.streams):
            stream.abort()  # TLS handlers unwind on their own (cancelling them logs noise)
        share = state.share
        assert share is not None
        for handler in list(share.tasks):
            handler.cancel()
        for connection in list(share.detached):
            connection.stop_detached()
        pending = [*acceptors, *share.tasks]
        if pending:
            await asyncio.wait(pending, timeout=5)
        # Detached sends end once no sender lane uses their socket (within its gap).
        for _ in range(50):
            if not share.detached:
                break
            await asyncio.sleep(0.1)
        for server in servers:
            await server.wait_closed()

    def _listen(self, host: str, port: int, *, first: bool) -> socket.socket:
        info = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                  flags=socket.AI_PASSIVE)[0]
        if self._reuse_port and port and first:
            # SO_REUSEPORT would silently share a port another server (e.g. an old
            # gateway still running) holds: bind once without it to fail loudly.
            with socket.socket(info[0], socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(info[4])
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            # Accepted sockets inherit these (Linux): nothing to set per connection.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if DEFER_ACCEPT_S and hasattr(socket, "TCP_DEFER_ACCEPT"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, DEFER_ACCEPT_S)
            sock.bind(info[4])
            sock.listen(self._backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    async def _accept(self, state: _Loop, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listening)
            except OSError as exc:  # e.g. EMFILE: log, breathe, carry on
                log.warning("media: accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            self._start(state, sock, peer)
            # A fleet connects in bursts: take what is already queued without a loop
            # round-trip per connection (asyncio's own servers accept in batches too).
            for _ in range(ACCEPT_BATCH):
                try:
                    sock, peer = listening.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    log.warning("media: accept failed: %s", exc)
                    break
                self._start(state, sock, peer)

    def _start(self, state: _Loop, sock: socket.socket, peer: Any) -> None:
        """Run the handler for a newly accepted plain connection (`peer`: its address
        as accept() gave it)."""
        assert state.share is not None
        try:
            sock.setblocking(False)
        except OSError:  # the peer vanished already
            sock.close()
            return
        connection = SocketConnection(sock, state.share, str(peer[0]) if peer else None)
        # The handler's task itself, no wrapper coroutine per connection (10,000
        # readers hold 10,000 of whatever is here).
        connection.run(self._handler(connection))

    async def _on_stream(self, state: _Loop, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        connection = StreamConnection(reader, writer)
        state.streams.add(connection)
        try:
            await self._handler(connection)
        finally:
            state.streams.discard(connection)
            await connection.close()

