"""Handing requests to worker threads and answers back to the event loop, cheaply.

Every request crosses threads twice: the loop gives it to a worker that runs
the app, and the worker gives the answer back to the loop, which alone
touches sockets and h11. Under load that hand-over cost the loop thread, the
one every port shares, about as much as parsing the request (profiled with
bench/emulator_scale.py): a ThreadPoolExecutor future (with its lock and
condition) per request one way, and one ``call_soon_threadsafe`` (a write to
the loop's wake-up pipe, a system call) per answer the other. Here a request
is one put on a queue, and the answers of a burst share one wake-up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

LOG = logging.getLogger(__name__)

Job = tuple[Callable[..., None], tuple[Any, ...]]


class WorkerPool:
    """A fixed number of daemon threads running jobs in the order they were submitted."""

    def __init__(self, threads: int, name: str = "wsgi") -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
                         for index in range(max(1, threads))]
        self._closed = False
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[..., None], *args: Any) -> None:
        """Queue ``job(*args)``; RuntimeError once the pool is shut down."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        self._jobs.put((job, args))

    def shutdown(self) -> None:
        """Stop taking jobs: queued ones are dropped, each worker ends after its current one."""
        self._closed = True
        with contextlib.suppress(queue.Empty):
            while True:
                self._jobs.get_nowait()
        for _thread in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            found = self._jobs.get()
            if found is None or self._closed:
                return
            job, args = found
            try:
                job(*args)
            except Exception:  # a job must never kill its worker
                LOG.exception("worker job failed")


class LoopInbox:
    """Callbacks from any thread to the event loop: in order, one wake-up per burst.

    The loop is woken only when the inbox goes from empty to non-empty; it
    then runs everything queued by the time it gets there.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: collections.deque[Job] = collections.deque()
        self._wake_pending = False

    def put(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the loop thread (dropped if the loop is closed)."""
        with self._lock:
            self._items.append((callback, args))
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, collections.deque()
            self._wake_pending = False
        for callback, args in items:
            try:
                callback(*args)
            except Exception:  # one failed answer must not drop the others
                LOG.exception("event loop callback failed")
