"""One client connection as the media server sees it: read a head, write, send a file.

Two implementations behind one Protocol:
- SocketConnection (plain HTTP): a raw non-blocking socket driven with the loop's
  sock_* API. Body bytes leave through os.sendfile(2) (zero-copy; the GIL is
  released during the copy). Fairness between thousands of readers comes from
  round-robin on the event loop: each turn a connection sends at most LOOP_SLICE,
  then either waits for writability (its socket is full: a slow reader) or yields
  to the back of the loop's ready queue. A reader that keeps taking whole slices
  for STREAK_BYTES without ever filling its socket is a fast reader: its next
  slices (up to SEND_SLICE_BYTES, until the socket is full) run in a small shared
  pool of sender threads, so the copies of several fast readers use all cores
  without a thread per reader. Slow readers never enter that pool: when 10,000 of
  them queued there, one fast reader waited behind the whole queue for every
  slice (measured in bench/front_door.py: 0.1 MB/s at 10,000 readers). (Measured
  in bench/media.py: asyncio's own loop.sendfile, which issues every sendfile
  from the loop thread, reached ~0.55 of nginx's throughput; the pool ~0.8.)
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

SEND_SLICE_BYTES = 8 * 1024 * 1024
LOOP_SLICE = 1024 * 1024  # at most this much is sent from the loop thread per turn
# Bytes sent without the socket ever filling up before a reader counts as fast.
STREAK_BYTES = 4 * 1024 * 1024
RECV_BYTES = 64 * 1024


class Connection(Protocol):
    """What request handling needs from a connection. I/O errors are OSError."""

    peer: str | None
    buffer: bytearray  # received bytes not yet consumed (see gateway.frontdoor.read_head)
    shares_files: bool  # sendfile() never moves the file position (see media.open_files)

    async def recv(self) -> bytes:
        """The next bytes from the client; b"" when it closed."""
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

    __slots__ = ("_sock", "_senders", "_head_limit", "_send_timeout", "buffer", "_pending",
                 "peer")
    shares_files = True

    def __init__(self, sock: socket.socket, senders: ThreadPoolExecutor, head_limit: int,
                 send_timeout_s: float) -> None:
        self._sock = sock
        self._senders = senders
        self._head_limit = head_limit
        self._send_timeout = send_timeout_s
        self.buffer = bytearray()
        self._pending = bytearray()
        peer = sock.getpeername()
        self.peer: str | None = str(peer[0]) if peer else None

    async def recv(self) -> bytes:
        try:
            return await asyncio.get_running_loop().sock_recv(self._sock, RECV_BYTES)
        except ConnectionError:
            return b""

    def write(self, data: bytes) -> None:
        self._pending += data

    async def drain(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self._send_timeout):  # wait_for: a task per response
                await loop.sock_sendall(self._sock, data)

    async def sendfile(self, stream: BinaryIO, offset: int, count: int,
                       sent: Callable[[int], None]) -> None:
        await self.drain()
        loop = asyncio.get_running_loop()
        out_fd, in_fd = self._sock.fileno(), stream.fileno()
        done = 0
        streak = 0  # bytes sent since the socket was last full
        while done < count:
            if streak >= STREAK_BYTES:
                chunk = min(SEND_SLICE_BYTES, count - done)
                n, error = await self._send_in_pool(out_fd, in_fd, offset + done, chunk)
                if error is not None:
                    sent(n)  # bytes sent before a reset still count
                    raise error
                full = n < chunk
            else:
                # On the loop: what the socket takes now, at most one slice per turn.
                try:
                    n = os.sendfile(out_fd, in_fd, offset + done,
                                    min(LOOP_SLICE, count - done))
                except BlockingIOError:
                    n = 0
                else:
                    if n == 0:
                        raise ConnectionError("file ended before the range did")
                full = n < min(LOOP_SLICE, count - done)
            done += n
            sent(n)
            if done >= count:
                break
            if full:
                streak = 0
                # Inline, not a helper coroutine: 10,000 readers wait here at once
                # and each nested coroutine frame costs them ~300 bytes.
                writable = loop.create_future()
                loop.add_writer(out_fd, _set_done, writable)
                try:
                    async with asyncio.timeout(self._send_timeout):
                        await writable
                finally:
                    loop.remove_writer(out_fd)
            else:
                streak += n
                await asyncio.sleep(0)  # every other ready connection's turn first

    async def _send_in_pool(self, out_fd: int, in_fd: int, offset: int, chunk: int
                            ) -> tuple[int, OSError | None]:
        """One sender-thread job: (bytes sent, the error that stopped it or None)."""
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._senders, _send_until_full, out_fd, in_fd,
                                   offset, chunk)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            # Never close the socket under a running sendfile job: its fd number
            # could be reused by another connection. Jobs are short (one slice).
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await job
            raise

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
