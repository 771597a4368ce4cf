"""Sender lanes: threads that serve fast readers, each with its own small epoll.

Why: the event loops serve every reader in turns of one bounded slice per
writability wake-up (gateway.media.file_send). When thousands of readers all
have room, a turn is long, and a reader that could take far more still gets one
slice per turn: beside 10,000 readers taking their 1 MB/s, an unthrottled
reader got 4 MB/s (docs/performance.md, front door). A reader tried in a lane
(gateway.media.file_send says when) has its socket filled whenever it has
room, without waiting for anyone else's turn, for as long as it keeps
draining: it must make room within FAST_GAP_S of its socket filling up, or it
goes back to the loops' turns. The lane waits for room with epoll, so readers
that are only tried out cost no thread while they wait (in a pool of blocking
jobs, the slow readers being tried queued ahead of a fast one).

The lane owns the reader's socket while it is there: the loop has no writer
registered for it, and learns of the bytes sent and of the end through
call_soon_threadsafe, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)
# A fast reader makes room in its full socket within this. A reader at 1 MB/s
# needs far longer to empty a third of its socket; the gap leaves room for a
# client not scheduled for a while on a loaded machine.
FAST_GAP_S = 0.1
# At most this much to one reader per wake-up, so that readers in one lane share it.
PUMP_BYTES = 8 * 1024 * 1024
# Readers at most in one lane (its thread scans them every wake-up).
LANE_READERS = 256


class _Member:
    __slots__ = ("out", "src", "offset", "left", "full_since", "loop", "progress",
                 "ended", "aborted")

    def __init__(self, out_fd: int, in_fd: int, offset: int, count: int,
                 loop: asyncio.AbstractEventLoop, progress: Callable[[int], None],
                 ended: Callable[[BaseException | None], None],
                 aborted: Callable[[], bool]) -> None:
        self.out, self.src = out_fd, in_fd
        self.offset, self.left = offset, count
        self.full_since: float | None = None
        self.loop = loop
        self.progress, self.ended, self.aborted = progress, ended, aborted

    def tell(self, callback: Callable[..., None], arg: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server stopped
            self.loop.call_soon_threadsafe(callback, arg)


class _Lane:
    def __init__(self, name: str) -> None:
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._inbox: deque[_Member | None] = deque()  # None: stop
        self._members: dict[int, _Member] = {}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def has_room(self) -> bool:
        return not self._stopped and len(self._members) + len(self._inbox) < LANE_READERS

    def admit(self, member: _Member) -> None:
        if self._stopped:
            member.tell(member.ended, ConnectionError("media server stopping"))
            return
        self._inbox.append(member)
        os.write(self._wake_w, b"x")

    def stop(self) -> None:
        if self._thread.ident is None:  # never started: nothing will close these
            if not self._stopped:
                self._stopped = True
                self._epoll.close()
                os.close(self._wake_r)
                os.close(self._wake_w)
            return
        if not self._stopped:
            self._stopped = True
            self._inbox.append(None)
            os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while self._serve_once():
                pass
        finally:
            self._epoll.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _serve_once(self) -> bool:
        events = self._epoll.poll(FAST_GAP_S if self._members else -1)
        now = time.monotonic()
        for fd, _ in events:
            if fd == self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
                while self._inbox:
                    member = self._inbox.popleft()
                    if member is None:
                        for member in list(self._members.values()):
                            self._leave(member, ConnectionError("media server stopping"))
                        return False
                    try:
                        self._epoll.register(member.out, select.EPOLLOUT)
                    except OSError as exc:  # never expected: end this send, not the lane
                        log.error("media: a sender lane cannot watch a socket: %s", exc)
                        member.tell(member.ended, exc)
                        continue
                    self._members[member.out] = member
                    self._pump(member, now)
            elif (member := self._members.get(fd)) is not None:
                self._pump(member, now)
        for member in list(self._members.values()):
            if member.aborted() or (member.full_since is not None
                                    and now - member.full_since >= FAST_GAP_S):
                self._leave(member, None)  # not draining (or aborted): back to the loop
        return True

    def _pump(self, member: _Member, now: float) -> None:
        sent, full, error = 0, False, None
        while sent < PUMP_BYTES and member.left > 0:
            try:
                n = os.sendfile(member.out, member.src, member.offset,
                                min(PUMP_BYTES - sent, member.left))
            except (BlockingIOError, InterruptedError):
                full = True
                break
            except OSError as exc:  # the reader reset or closed the connection
                error = exc
                break
            if n == 0:
                error = ConnectionError("file ended before the range did")
                break
            member.offset += n
            member.left -= n
            sent += n
        if sent:
            member.tell(member.progress, sent)
        if error is not None or member.left == 0:
            self._leave(member, error)
        else:
            member.full_since = now if full else None

    def _leave(self, member: _Member, error: BaseException | None) -> None:
        del self._members[member.out]
        with contextlib.suppress(OSError):  # e.g. already gone from the epoll set
            self._epoll.unregister(member.out)
        member.tell(member.ended, error)


class SenderLanes:
    """`count` lane threads; a reader goes to the lane its socket number picks."""

    def __init__(self, count: int, name: str = "media-send") -> None:
        self._lanes = [_Lane(f"{name}-{index}") for index in range(max(1, count))]

    def start(self) -> None:
        for lane in self._lanes:
            lane.start()

    def stop(self) -> None:
        """End every lane; readers still in one end with a ConnectionError."""
        for lane in self._lanes:
            lane.stop()

    def has_room(self, out_fd: int) -> bool:
        return self._lanes[out_fd % len(self._lanes)].has_room()

    def admit(self, loop: asyncio.AbstractEventLoop, out_fd: int, in_fd: int, offset: int,
              count: int, *, progress: Callable[[int], None],
              ended: Callable[[BaseException | None], None], aborted: Callable[[], bool]) -> None:
        """From a loop thread, after has_room(out_fd) and with no writer registered for
        `out_fd`: send up to `count` bytes while the reader drains. progress(n) runs
        on `loop` (the caller's) per batch sent, then ended(error or None) once the lane
        no longer uses the socket (None: the range is sent, the reader stopped
        draining, or aborted() became true)."""
        member = _Member(out_fd, in_fd, offset, count, loop, progress, ended, aborted)
        self._lanes[out_fd % len(self._lanes)].admit(member)
