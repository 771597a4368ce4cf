"""One file range to one plain-TCP client, driven by writability callbacks.

Why callbacks and not a coroutine loop: with 10,000 slow readers each socket
becomes writable a few times a second, and every wake-up used to cost a task
step, a new future, an add_writer/remove_writer pair (two epoll_ctl calls) and
a timeout handle. That per-event Python work, times tens of thousands of events
a second, is what kept new readers waiting for their first byte (see
docs/performance.md, front door). Here the socket is registered for writability
once per range; each wake-up is one os.sendfile(2) of at most LOOP_SLICE and a
few attribute updates. The selector is level-triggered, so a socket that still
has room is called again on the loop's next turn, after every other ready
connection: readers take turns in bounded slices (LOOP_SLICE).

A reader that keeps taking whole slices for STREAK_BYTES without filling its
socket is a fast reader: it moves to the small shared pool of sender threads,
so the copies of several fast readers use every core. There a job fills its
socket and waits for room in the thread, for as long as the reader keeps
draining (room within FAST_GAP_S of the socket filling up) and up to JOB_S, then
queues its next job behind any other fast reader's. Only a reader that stops
draining goes back to the loop's turns. (When every job ended at the first full
socket, a fast reader on loopback, which fills at once, went back to the loop
after every job and needed another STREAK_BYTES of turns, each spaced by every
other ready reader: beside 10,000 readers taking their 1 MB/s it got 4 MB/s,
docs/performance.md, front door.) Slow readers never stay in the pool (when
they did, a fast reader waited behind the whole queue).

A reader that takes nothing for `stall_timeout_s` is dropped: one timer per
range, re-armed only when it fires (not per write).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

SEND_SLICE_BYTES = 8 * 1024 * 1024
# At most this much is sent from the loop thread per wake-up: while thousands of
# new readers' sockets all have room, one loop turn costs (readers x slice) of
# copying, and everything else on the loop (accepting, heads) waits for the turn.
LOOP_SLICE = 256 * 1024
# Bytes sent without the socket ever filling up before a reader counts as fast.
STREAK_BYTES = 4 * 1024 * 1024
# A fast reader makes room in its full socket within this (a reader at 1 MB/s
# takes about a second to empty a third of a loopback send buffer; the gap
# leaves room for a client not scheduled for a while on a loaded machine).
FAST_GAP_S = 0.05
# A sender-thread job keeps a fast reader at most this long, so that several fast
# readers take turns on the threads.
JOB_S = 0.5


class FileSend:
    """Send `count` bytes of `in_fd` from `offset` to the socket `out_fd`.

    `done` resolves when the range is sent, or with the OSError/TimeoutError
    that ended it (cancelled after `abort()`); `sent(n)` is called for every n
    bytes that left. `done` never resolves while a sender thread still uses the
    socket, so its callbacks may close it.
    """

    __slots__ = ("_loop", "_out", "_in", "_offset", "_left", "_sent", "_senders",
                 "_stall_timeout", "_streak", "_last", "_timer", "_job", "_aborted", "done")

    def __init__(self, loop: asyncio.AbstractEventLoop, out_fd: int, in_fd: int,
                 offset: int, count: int, sent: Callable[[int], None],
                 senders: ThreadPoolExecutor, stall_timeout_s: float) -> None:
        self._loop = loop
        self._out, self._in = out_fd, in_fd  # socket, file
        self._offset, self._left = offset, count  # next byte of the file, bytes to go
        self._sent = sent
        self._senders = senders
        self._stall_timeout = stall_timeout_s
        self._streak = 0  # bytes sent since the socket was last full
        self._last = loop.time()
        self._job: Future[tuple[int, OSError | None, bool]] | None = None
        self._aborted = False
        self.done: asyncio.Future[None] = loop.create_future()
        self._timer = loop.call_later(stall_timeout_s, self._check_stalled)
        if count <= 0:
            self._finish(None)
        else:
            loop.add_writer(out_fd, self._writable)
            # The first slice now: a new reader's first byte must not wait for a loop
            # turn, which takes long while thousands of sockets have room.
            self._writable()

    def _writable(self) -> None:
        if self.done.done():
            self._loop.remove_writer(self._out)
            return
        chunk = min(LOOP_SLICE, self._left)
        try:
            n = os.sendfile(self._out, self._in, self._offset, chunk)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # the reader reset or closed the connection
            self._finish(exc)
            return
        if n == 0:
            self._finish(ConnectionError("file ended before the range did"))
            return
        self._advance(n)
        if self._left == 0:
            self._finish(None)
        elif n < chunk:
            self._streak = 0  # the socket is full: wait for room (still registered)
        else:
            self._streak += n
            if self._streak >= STREAK_BYTES:
                self._loop.remove_writer(self._out)
                self._to_pool()

    def _advance(self, n: int) -> None:
        self._offset += n
        self._left -= n
        self._last = self._loop.time()
        self._sent(n)

    def _to_pool(self) -> None:
        job = self._senders.submit(_send_while_draining, self._out, self._in, self._offset,
                                   self._left)
        self._job = job
        job.add_done_callback(self._job_ended)

    def _job_ended(self, job: Future[tuple[int, OSError | None, bool]]) -> None:
        # A sender thread: hand the outcome to the loop (gone when the server stopped).
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._after_job, job)

    def _after_job(self, job: Future[tuple[int, OSError | None, bool]]) -> None:
        self._job = None
        if job.cancelled():  # the pool shut down: the server is stopping
            self._finish(ConnectionError("media server stopping"))
            return
        n, error, draining = job.result()
        if n:
            self._advance(n)  # bytes sent before an error still count
        if self._aborted:
            self._finish(None)  # aborted while the job ran: resolve now (cancelled)
        elif error is not None:
            self._finish(error)
        elif self._left == 0:
            self._finish(None)
        elif draining:
            self._to_pool()  # behind any other fast reader's job
        else:
            self._streak = 0  # it stopped draining: back to the loop's turns
            self._loop.add_writer(self._out, self._writable)

    def _check_stalled(self) -> None:
        if self._aborted:
            return
        idle = self._loop.time() - self._last
        if self._job is None and idle >= self._stall_timeout:
            self._finish(TimeoutError("the reader took nothing for "
                                      f"{self._stall_timeout:g} s"))
        else:
            self._timer = self._loop.call_later(max(self._stall_timeout - idle, 1.0),
                                                self._check_stalled)

    def _finish(self, error: BaseException | None) -> None:
        self._loop.remove_writer(self._out)
        self._timer.cancel()
        if self.done.done():
            return
        if self._aborted:
            self.done.cancel()
        elif error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)

    def abort(self) -> None:
        """Stop sending (the server is stopping, or the waiter was cancelled): `done`
        is cancelled now, or once the running sender-thread job has returned."""
        self._aborted = True
        if self._job is None:
            self._finish(None)
        else:
            self._loop.remove_writer(self._out)
            self._timer.cancel()


def _send_while_draining(out_fd: int, in_fd: int, offset: int, count: int
                         ) -> tuple[int, OSError | None, bool]:
    """Runs in a sender thread: send up to `count` bytes while the reader drains.

    Sends until the socket is full, then waits up to FAST_GAP_S for room, for at
    most JOB_S. Returns (bytes sent, the error that stopped it or None, whether
    the reader still kept draining), so bytes sent before a reset still count.
    """
    done = 0
    ends = time.monotonic() + JOB_S
    room = select.poll()
    room.register(out_fd, select.POLLOUT)
    while done < count:
        try:
            n = os.sendfile(out_fd, in_fd, offset + done, min(SEND_SLICE_BYTES, count - done))
        except (BlockingIOError, InterruptedError):
            n = -1  # full
        except OSError as exc:
            return done, exc, False
        if n == 0:
            return done, ConnectionError("file ended before the range did"), False
        if n > 0:
            done += n
        if time.monotonic() >= ends:
            return done, None, True
        if n < 0 and not room.poll(FAST_GAP_S * 1000):
            return done, None, False
    return done, None, True
