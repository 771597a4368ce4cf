"""Request bodies: kept in memory while small, written to a spool file once large.

A write may block for as long as the disk is busy (seconds on a loaded
machine, behind other processes' write-back). On the event loop thread that
would stall every port of the server, a BMC restart's port close included,
so the loop only queues the bytes and a writer thread of the body's own does
the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import queue
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Protocol

LOG = logging.getLogger(__name__)

# Bodies larger than this go to disk; smaller ones stay in memory.
SPOOL_IN_MEMORY_BYTES = 1 << 20
# The loop stops reading from the client while this much waits for the writer.
MAX_QUEUED_BYTES = 4 << 20

_END = b""  # queued after the last chunk: the body is complete


class SpoolOwner(Protocol):
    """What a spooled body reports back to (on the loop thread)."""

    def spooled(self, body: SpooledBody, spool: IO[bytes]) -> None: ...

    def resume_spooling(self) -> None: ...

    def abort(self) -> None: ...


def new_spool_file() -> IO[bytes]:
    """A spool for one large request body: in memory up to SPOOL_IN_MEMORY_BYTES, then on disk."""
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115


class RequestBody:
    """The decoded body of one request as it arrives: a list of chunks (joined once)
    until it grows past SPOOL_IN_MEMORY_BYTES, then a SpooledBody."""

    def __init__(self, owner: SpoolOwner, make_file: Callable[[], IO[bytes]],
                 loop: asyncio.AbstractEventLoop) -> None:
        self._owner = owner
        self._make_file = make_file
        self._loop = loop
        self._chunks: list[bytes] = []
        self.size = 0
        self.spool: SpooledBody | None = None

    def feed(self, data: bytes) -> bool:
        """Add body bytes; True when the client should pause (the writer is behind)."""
        self.size += len(data)
        if self.spool is not None:
            return self.spool.feed(data)
        self._chunks.append(data)
        if self.size <= SPOOL_IN_MEMORY_BYTES:
            return False
        self.spool = SpooledBody(self._owner, self._make_file, self._loop)
        chunks, self._chunks = self._chunks, []
        pause = False
        for chunk in chunks:
            pause = self.spool.feed(chunk) or pause
        return pause

    def in_memory(self) -> IO[bytes]:
        """The whole body, for a body that never reached the spool."""
        return io.BytesIO(b"".join(self._chunks))

    def cancel(self) -> None:
        if self.spool is not None:
            self.spool.cancel()


class SpooledBody:
    """A large body written to a spool file on a thread of its own as it arrives.

    The loop only queues the bytes (feed); it stops reading from the client
    while more than MAX_QUEUED_BYTES wait, and the writer asks it to resume
    once it caught up. finish() hands the file, rewound, back to the owner.
    """

    def __init__(self, owner: SpoolOwner, make_file: Callable[[], IO[bytes]],
                 loop: asyncio.AbstractEventLoop) -> None:
        self._chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0  # bytes handed to the writer and not yet written
        self._paused = False
        threading.Thread(target=self._write_all, args=(owner, make_file, loop),
                         name="http-spool", daemon=True).start()

    def feed(self, data: bytes) -> bool:
        """Queue body bytes; True when the client should pause."""
        if not data:
            return False
        with self._lock:
            self._queued += len(data)
            pause = self._queued > MAX_QUEUED_BYTES
            self._paused = self._paused or pause
        self._chunks.put(data)
        return pause

    def finish(self) -> None:
        """The body is complete: the writer hands the file back when it is on disk."""
        self._chunks.put(_END)

    def cancel(self) -> None:
        """The client went away: the writer drops the file."""
        self._chunks.put(None)

    def _write_all(self, owner: SpoolOwner, make_file: Callable[[], IO[bytes]],
                   loop: asyncio.AbstractEventLoop) -> None:
        """Writer thread: store every chunk, then hand the file back to the loop."""
        spool: IO[bytes] | None = None
        try:
            spool = make_file()
            while True:
                chunk = self._chunks.get()
                if chunk is None:
                    spool.close()
                    return
                if not chunk:  # _END: feed() never queues an empty chunk
                    break
                spool.write(chunk)
                with self._lock:
                    self._queued -= len(chunk)
                    resume = self._paused and self._queued <= MAX_QUEUED_BYTES // 4
                    self._paused = self._paused and not resume
                if resume:
                    loop.call_soon_threadsafe(owner.resume_spooling)
            spool.seek(0)
            loop.call_soon_threadsafe(owner.spooled, self, spool)
        except Exception:  # disk full, loop closed at shutdown: drop the request
            LOG.warning("could not spool a request body", exc_info=True)
            if spool is not None:
                spool.close()
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(owner.abort)
