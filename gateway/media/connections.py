"""One client connection as the media server sees it: read a head, write, send a file.

Two implementations behind one Protocol:
- SocketConnection (plain HTTP): a raw non-blocking socket driven with the loop's
  sock_* API. Body bytes leave through os.sendfile(2) (zero-copy; the GIL is
  released during the copy), driven by writability callbacks in bounded slices
  (gateway.media.file_send: round-robin between readers, fast readers served by
  a few sender-lane threads, gateway.media.sender_lanes). (Measured in bench/media.py: asyncio's own
  loop.sendfile, which issues every sendfile from the loop thread, reached ~0.55
  of nginx's throughput; the pool ~0.8.)
- StreamConnection (HTTPS): asyncio streams over TLS; loop.sendfile falls back to
  a bounded 256 KiB read/encrypt/write cycle there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, BinaryIO, Protocol

from gateway.media.file_send import FileSend
from gateway.media.sender_lanes import SenderLanes

RECV_BYTES = 64 * 1024
log = logging.getLogger(__name__)


class Connection(Protocol):
    """What request handling needs from a connection. I/O errors are OSError."""

    peer: str | None
    buffer: bytearray  # received bytes not yet consumed (see gateway.frontdoor.read_head)
    shares_files: bool  # sendfile() never moves the file position (see media.open_files)

    async def recv(self) -> bytes:
        """The next bytes from the client; b"" when it closed."""
        ...

    def take_ready(self) -> None:
        """Move bytes already received into `buffer`, without waiting (or nothing)."""
        ...

    def write(self, data: bytes) -> None:
        """Queue bytes (sent by drain() or before the next sendfile)."""
        ...

    async def drain(self) -> None: ...

    async def sendfile(self, stream: BinaryIO, offset: int, count: int,
                       sent: Callable[[int], None]) -> None:
        """Send `count` bytes of `stream` from `offset`; `sent(n)` reports progress,
        also when the client goes away mid-way (then OSError is raised)."""
        ...

    async def close(self) -> None: ...


class LoopShare:
    """What every plain connection of one event loop shares, held once per loop
    rather than in each of 10,000 connections: the sender lanes, the stall timeout,
    and the loop's handler tasks and detached body sends (closed at shutdown)."""

    __slots__ = ("senders", "send_timeout", "tasks", "detached")

    def __init__(self, senders: SenderLanes, send_timeout_s: float) -> None:
        self.senders = senders
        self.send_timeout = send_timeout_s
        self.tasks: set[asyncio.Task[bool]] = set()
        self.detached: set[SocketConnection] = set()

    def run(self, conn: SocketConnection, handler: Coroutine[Any, Any, bool]) -> None:
        """Run a handler for `conn` as its own task. The connection is closed when the
        handler ends, unless it returns True: a detached body send then owns it."""
        task = asyncio.get_running_loop().create_task(handler)
        self.tasks.add(task)
        task.add_done_callback(functools.partial(self._ended, conn))

    def _ended(self, conn: SocketConnection, task: asyncio.Task[bool]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            conn.close_now()
        elif (error := task.exception()) is not None:
            log.error("media: a connection's handler failed", exc_info=error)
            conn.close_now()
        elif not task.result():
            conn.close_now()


class SocketConnection:
    """A plain-TCP connection on a raw non-blocking socket."""

    __slots__ = ("_sock", "_share", "buffer", "_pending", "peer", "_sending")
    shares_files = True

    def __init__(self, sock: socket.socket, share: LoopShare, peer: str | None) -> None:
        self._sock = sock
        self._share = share
        self.buffer = bytearray()
        self._pending = b""
        self._sending: FileSend | None = None  # a detached body send in progress
        self.peer = peer  # the client's address, as accept() reported it

    def run(self, handler: Coroutine[Any, Any, bool]) -> None:
        """Serve the connection's next request(s) with `handler` (see LoopShare.run)."""
        self._share.run(self, handler)

    def send_detached(self, stream: BinaryIO, offset: int, count: int,
                      sent: Callable[[int], None],
                      then: Callable[[BaseException | None], None]) -> None:
        """Send a range with no task waiting for it (the handler returns True): while
        the body goes out, 10,000 slow readers hold no coroutine frames, task or
        request objects, only this connection and its FileSend. `then(error)` runs
        on the loop when the range was sent (None) or the send ended early."""
        sending = FileSend(asyncio.get_running_loop(), self._sock.fileno(), stream.fileno(),
                           offset, count, sent, self._share.senders,
                           self._share.send_timeout)
        self._sending = sending
        self._share.detached.add(self)
        sending.done.add_done_callback(functools.partial(self._detached_ended, then))

    def _detached_ended(self, then: Callable[[BaseException | None], None],
                        done: asyncio.Future[None]) -> None:
        self._sending = None
        self._share.detached.discard(self)
        then(ConnectionAbortedError("media server stopping") if done.cancelled()
             else done.exception())

    def stop_detached(self) -> None:
        """Shutdown: end a detached send (its `then` runs once no thread uses the socket)."""
        if self._sending is not None:
            self._sending.abort()

    async def recv(self) -> bytes:
        try:
            return await asyncio.get_running_loop().sock_recv(self._sock, RECV_BYTES)
        except ConnectionError:
            return b""

    def take_ready(self) -> None:
        # Accept is deferred until the head arrived (gateway.media.event_loops): it is
        # nearly always here, and reading it now spares the head deadline's timer.
        with contextlib.suppress(OSError):  # nothing yet, or an error recv() reports
            self.buffer += self._sock.recv(RECV_BYTES)

    def write(self, data: bytes) -> None:
        self._pending += data

    async def drain(self) -> None:
        if self._pending:
            data, self._pending = self._pending, b""
            try:  # a response head nearly always fits the socket: no timeout handle
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self._share.send_timeout):  # wait_for: a task per response
                await loop.sock_sendall(self._sock, data)

    async def sendfile(self, stream: BinaryIO, offset: int, count: int,
                       sent: Callable[[int], None]) -> None:
        await self.drain()
        sending = FileSend(asyncio.get_running_loop(), self._sock.fileno(), stream.fileno(),
                           offset, count, sent, self._share.senders,
                           self._share.send_timeout)
        try:
            await sending.done
        except asyncio.CancelledError:
            sending.abort()
            # Never close the socket while a sender lane uses it: its fd number could
            # be reused by another connection. A lane lets go within its gap.
            with contextlib.suppress(asyncio.CancelledError):
                await sending.done
            raise

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


class StreamConnection:
    """A connection on asyncio streams (used for TLS)."""

    shares_files = False  # asyncio's TLS sendfile reads at the file position

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.buffer = bytearray()
        peer = writer.get_extra_info("peername")
        self.peer: str | None = str(peer[0]) if peer else None

    async def recv(self) -> bytes:
        try:
            return await self._reader.read(RECV_BYTES)
        except (ConnectionError, ssl.SSLError):
            return b""

    def take_ready(self) -> None:
        pass  # TLS records arrive through the stream only

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def drain(self) -> None:
        await self._writer.drain()

    async def sendfile(self, stream: BinaryIO, offset: int, count: int,
                       sent: Callable[[int], None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.sendfile(self._writer.transport, stream, offset, count)
        finally:
            # asyncio leaves the file positioned after the last byte sent, also
            # when the client went away mid-transfer: count exactly what left.
            sent(max(0, stream.tell() - offset))

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), 5)

    def abort(self) -> None:
        self._writer.transport.abort()
