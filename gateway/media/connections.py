"""One client connection as the media server sees it: read a head, write, send a file.

Two implementations behind one Protocol:
- SocketConnection (plain HTTP): a raw non-blocking socket driven with the loop's
  sock_* API. Body bytes leave through os.sendfile(2) run in a small shared
  thread pool: each job sends until the socket is full or SEND_SLICE_BYTES went
  out, then the loop (not a thread) waits for writability. The copies of many
  readers so run in parallel on all cores without a thread per reader, and a
  slow reader never holds a thread while it drains its buffer. (Measured in
  bench/media.py: asyncio's own loop.sendfile, which issues every sendfile from
  the loop thread, reached ~0.55 of nginx's throughput; this reaches ~0.8.)
- StreamConnection (HTTPS): asyncio streams over TLS; loop.sendfile falls back to
  a bounded 256 KiB read/encrypt/write cycle there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Protocol

from gateway.media.errors import MediaError

SEND_SLICE_BYTES = 8 * 1024 * 1024
RECV_BYTES = 64 * 1024


class HeadTooLargeError(MediaError):
    """The client sent more than the head limit without ending its head."""


class Connection(Protocol):
    """What request handling needs from a connection. I/O errors are OSError."""

    peer: str | None

    async def read_head(self, timeout: float) -> bytes | None:
        """Bytes up to and including CRLF CRLF; None when the client closed or
        stayed silent for `timeout` seconds. Raises HeadTooLargeError."""
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


class SocketConnection:
    """A plain-TCP connection on a raw non-blocking socket."""

    def __init__(self, sock: socket.socket, senders: ThreadPoolExecutor, head_limit: int,
                 send_timeout_s: float) -> None:
        self._sock = sock
        self._senders = senders
        self._head_limit = head_limit
        self._send_timeout = send_timeout_s
        self._buffer = bytearray()
        self._pending = bytearray()
        peer = sock.getpeername()
        self.peer: str | None = str(peer[0]) if peer else None

    async def read_head(self, timeout: float) -> bytes | None:
        loop = asyncio.get_running_loop()
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buffer[:end + 4])
                del self._buffer[:end + 4]  # pipelined requests stay buffered
                return head
            if len(self._buffer) > self._head_limit:
                raise HeadTooLargeError()
            try:
                data = await asyncio.wait_for(loop.sock_recv(self._sock, RECV_BYTES), timeout)
            except (TimeoutError, ConnectionError):
                return None
            if not data:
                return None
            self._buffer += data

    def write(self, data: bytes) -> None:
        self._pending += data

    async def drain(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.sock_sendall(self._sock, data), self._send_timeout)

    async def sendfile(self, stream: BinaryIO, offset: int, count: int,
                       sent: Callable[[int], None]) -> None:
        await self.drain()
        loop = asyncio.get_running_loop()
        out_fd, in_fd = self._sock.fileno(), stream.fileno()
        done = 0
        while done < count:
            chunk = min(SEND_SLICE_BYTES, count - done)
            job = loop.run_in_executor(self._senders, _send_until_full, out_fd, in_fd,
                                       offset + done, chunk)
            try:
                n, error = await asyncio.shield(job)
            except asyncio.CancelledError:
                # Never close the socket under a running sendfile job: its fd number
                # could be reused by another connection. Jobs are short (one slice).
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await job
                raise
            done += n
            sent(n)
            if error is not None:
                raise error
            if n < chunk:
                await self._writable()

    async def _writable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = self._sock.fileno()

        def on_writable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_writer(fd, on_writable)
        try:
            await asyncio.wait_for(ready, self._send_timeout)
        finally:
            loop.remove_writer(fd)

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def _send_until_full(out_fd: int, in_fd: int, offset: int, count: int
                     ) -> tuple[int, OSError | None]:
    """Runs in a sender thread: sendfile until `count` bytes or the socket is full.

    Returns (bytes sent, the error that stopped it or None), so bytes sent before
    a reset are still counted.
    """
    done = 0
    while done < count:
        try:
            n = os.sendfile(out_fd, in_fd, offset + done, count - done)
        except BlockingIOError:
            break
        except OSError as exc:
            return done, exc
        if n == 0:
            return done, ConnectionError("file ended before the range did")
        done += n
    return done, None


class StreamConnection:
    """A connection on asyncio streams (used for TLS)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.peer: str | None = str(peer[0]) if peer else None

    async def read_head(self, timeout: float) -> bytes | None:
        try:
            return await asyncio.wait_for(self._reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, ssl.SSLError):
            return None
        except asyncio.LimitOverrunError as exc:
            raise HeadTooLargeError() from exc

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
