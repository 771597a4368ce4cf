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

Which readers are fast cannot be told on the loop: when the loops are behind,
every reader has room at every turn. So every reader is tried in a sender lane
(gateway.media.sender_lanes) once TRY_BYTES went out on the loop, whose thread
fills its socket whenever it has room for as long as it keeps draining, and
hands it back to the loop's turns once it stops. A slow reader goes back after
one fill (which it reads anyway) and is tried again only after twice as many
bytes, up to MAX_TRY_BYTES; a fresh fast reader, whose small initial send
buffer never took a whole slice, reaches its lane after a few turns. (Trying
only readers that took 4 MiB in whole slices, and sending every fast reader back
to the turns at its first full socket, left an unthrottled reader 4 MB/s or less
beside 10,000 readers taking their 1 MB/s, docs/performance.md, front door.)
A reader stays on the loop while its lane is full.

A reader that takes nothing for `stall_timeout_s` is dropped: one timer per
range, re-armed only when it fires (not per write).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from gateway.media.sender_lanes import SenderLanes

# At most this much is sent from the loop thread per wake-up: while thousands of
# new readers' sockets all have room, one loop turn costs (readers x slice) of
# copying, and everything else on the loop (accepting, heads) waits for the turn.
# (1 MiB, so that readers leave the ready set for longer, measured no better at
# load 8-14: docs/performance.md, front door.)
LOOP_SLICE = 256 * 1024
# Bytes sent on the loop before a reader is first tried in a lane. A try costs
# little (a slow reader's lane fills its socket, which it reads anyway, and hands
# it back after the gap), while each turn a fast reader waits can take a second
# when the loops are behind; but thousands of tries keep the lanes' threads busy
# and cost the slow readers bytes (suspected: the lanes take the interpreter
# lock from the loops). At 10,000 x 1 MB/s the slow readers got 0.4 of the
# bytes they got without lanes with 256 KiB, 0.84 with 1 MiB (one run each,
# docs/performance.md, front door). Each failed try doubles it, up to
# MAX_TRY_BYTES.
TRY_BYTES = 1024 * 1024
MAX_TRY_BYTES = 64 * 1024 * 1024


class FileSend:
    """Send `count` bytes of `in_fd` from `offset` to the socket `out_fd`.

    `done` resolves when the range is sent, or with the OSError/TimeoutError
    that ended it (cancelled after `abort()`); `sent(n)` is called for every n
    bytes that left. `done` never resolves while a lane thread still uses the
    socket, so its callbacks may close it.
    """

    __slots__ = ("_loop", "_out", "_in", "_offset", "_left", "_sent", "_lanes",
                 "_stall_timeout", "_streak", "_try_at", "_last", "_timer", "_in_lane", "_aborted",
                 "done")

    def __init__(self, loop: asyncio.AbstractEventLoop, out_fd: int, in_fd: int,
                 offset: int, count: int, sent: Callable[[int], None],
                 lanes: SenderLanes, stall_timeout_s: float) -> None:
        self._loop = loop
        self._out, self._in = out_fd, in_fd  # socket, file
        self._offset, self._left = offset, count  # next byte of the file, bytes to go
        self._sent = sent
        self._lanes = lanes
        self._stall_timeout = stall_timeout_s
        self._streak = 0  # bytes sent on the loop since the last try in a lane
        self._try_at = TRY_BYTES  # ... before the next try
        self._last = loop.time()
        self._in_lane = False
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
        else:
            self._streak += n
            if self._streak >= self._try_at and self._lanes.has_room(self._out):
                self._loop.remove_writer(self._out)
                self._in_lane = True
                self._lanes.admit(self._loop, self._out, self._in, self._offset, self._left,
                                  progress=self._advance, ended=self._left_lane,
                                  aborted=self._is_aborted)

    def _advance(self, n: int) -> None:
        self._offset += n
        self._left -= n
        self._last = self._loop.time()
        self._sent(n)

    def _is_aborted(self) -> bool:  # asked from a lane thread
        return self._aborted

    def _left_lane(self, error: BaseException | None) -> None:
        self._in_lane = False
        if self._aborted:
            self._finish(None)  # aborted while in the lane: resolve now (cancelled)
        elif error is not None:
            self._finish(error)
        elif self._left == 0:
            self._finish(None)
        else:  # it stopped draining: back to the loop's turns
            self._streak = 0
            self._try_at = min(2 * self._try_at, MAX_TRY_BYTES)
            self._loop.add_writer(self._out, self._writable)

    def _check_stalled(self) -> None:
        if self._aborted:
            return
        idle = self._loop.time() - self._last
        if not self._in_lane and idle >= self._stall_timeout:
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
        is cancelled now, or once the lane holding the socket has let go of it."""
        self._aborted = True
        if not self._in_lane:
            self._finish(None)
        else:
            self._loop.remove_writer(self._out)
            self._timer.cancel()
