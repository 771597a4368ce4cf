"""Large request bodies, written to a spool file by a thread of their own.

A write may block for as long as the disk is busy (seconds on a loaded
machine, behind other processes' write-back). On the event loop thread that
would stall every port of the server, a BMC restart's port close included,
so the loop only queues the bytes and this module's writer does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import tempfile
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.server.connection import HttpConnection

LOG = logging.getLogger(__name__)

# Bodies larger than this go to disk; smaller ones stay in memory.
SPOOL_IN_MEMORY_BYTES = 1 << 20
# The loop stops reading from the client while this much waits for the writer.
MAX_QUEUED_BYTES = 4 << 20


def new_spool_file() -> IO[bytes]:
    """A spool for one large request body: in memory up to SPOOL_IN_MEMORY_BYTES, then on disk."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115


class SpooledBody:
    """A request whose large body is written to a spool file as it arrives.

    The file is written on a thread of its own, never on the event loop: a
    write may block for as long as the disk is busy (seconds on a loaded
    machine), and on the loop thread that would stall every port, port
    closes and reopens included. The loop only queues the bytes; it stops
    reading from the client while more than MAX_QUEUED_BYTES wait.
    """

    def __init__(self, connection: HttpConnection, request: tuple[str, str, str, dict[str, str]],
                 length: int, make_file: Callable[[], IO[bytes]],
                 loop: asyncio.AbstractEventLoop) -> None:
        version, headers = request[2], request[3]
        self.request = request
        self.left = length  # bytes still to arrive from the client
        self.length = length
        connection_header = headers.get("connection", "").lower()
        self.keep_alive = (
            "close" not in connection_header if version == "HTTP/1.1"
            else "keep-alive" in connection_header
        )
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0  # bytes handed to the writer and not yet written
        self._paused = False
        threading.Thread(target=self._write_all, args=(connection, make_file, loop),
                         name="http-spool", daemon=True).start()

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Queue what belongs to the body; return (the bytes beyond it, pause reading?)."""
        take = min(self.left, len(data))
        pause = False
        if take:
            with self._lock:
                self._queued += take
                pause = self._queued > MAX_QUEUED_BYTES
                self._paused = self._paused or pause
            self._chunks.put(bytes(data[:take]))
            self.left -= take
        return data[take:], pause

    def cancel(self) -> None:
        """The client went away: the writer drops the file."""
        self._chunks.put(None)

    def environ(self, connection: HttpConnection, body: IO[bytes]) -> dict[str, Any]:
        method, target, version, headers = self.request
        return connection.environ(method, target, version, headers, body, self.length)

    def _write_all(self, connection: HttpConnection, make_file: Callable[[], IO[bytes]],
                   loop: asyncio.AbstractEventLoop) -> None:
        """Writer thread: store every chunk, then hand the file back to the loop."""
        spool: IO[bytes] | None = None
        try:
            spool = make_file()
            written = 0
            while written < self.length:
                chunk = self._chunks.get()
                if chunk is None:
                    spool.close()
                    return
                spool.write(chunk)
                written += len(chunk)
                with self._lock:
                    self._queued -= len(chunk)
                    resume = self._paused and self._queued <= MAX_QUEUED_BYTES // 4
                    self._paused = self._paused and not resume
                if resume:
                    loop.call_soon_threadsafe(connection.resume_spooling)
            spool.seek(0)
            loop.call_soon_threadsafe(connection.spooled, self, spool)
        except Exception:  # disk full, loop closed at shutdown: drop the request
            LOG.warning("could not spool a %d-byte request body", self.length, exc_info=True)
            if spool is not None:
                spool.close()
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(connection.abort)
