"""Blocking catalog lookups for the event loops, many per thread-pool job.

The media catalog may block (the campaign store, hashing an image on first use),
so it runs off the event loops. One pool job per request was the largest part of
a new reader's time to first byte when a fleet mounts at once: 10,000 thread
hand-offs, each waiting for the interpreter lock behind the loops (measured with
bench/front_door.py, see docs/performance.md). Here requests that arrive in the
same loop turn, or while the loop's jobs are busy, go to the pool together: a
burst costs a few dozen hand-offs, and a slow catalog still gets `jobs` threads
per loop at once.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Generic, TypeVar, cast

A = TypeVar("A")
R = TypeVar("R")


class _LoopQueue(Generic[A, R]):
    __slots__ = ("pending", "running", "kicked")

    def __init__(self) -> None:
        self.pending: list[tuple[A, asyncio.Future[R]]] = []
        self.running = 0  # pool jobs of this loop in flight
        self.kicked = False  # a start is scheduled for this loop turn


class BatchedLookups(Generic[A, R]):
    """`await lookups(arg)` is `fn(arg)` run in `executor`, batched per event loop.

    An exception from `fn` is raised to that caller only. When the executor no
    longer takes jobs (the server is stopping), callers get OSError. `discard`
    gets the result of a lookup whose caller was cancelled meanwhile (to close
    what the lookup opened).
    """

    def __init__(self, executor: Executor, fn: Callable[[A], R], *,
                 discard: Callable[[R], None] | None = None, jobs: int = 4,
                 batch: int = 256) -> None:
        self._executor = executor
        self._fn = fn
        self._discard = discard
        self._jobs = jobs
        self._batch = batch
        self._lock = threading.Lock()
        self._queues: dict[asyncio.AbstractEventLoop, _LoopQueue[A, R]] = {}

    async def __call__(self, arg: A) -> R:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            with self._lock:
                queue = self._queues.setdefault(loop, _LoopQueue())
        future: asyncio.Future[R] = loop.create_future()
        queue.pending.append((arg, future))
        if not queue.kicked and queue.running < self._jobs:
            # After this turn: the requests of the same turn share the job.
            queue.kicked = True
            loop.call_soon(self._start, loop, queue)
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop, queue: _LoopQueue[A, R]) -> None:
        queue.kicked = False
        while queue.pending and queue.running < self._jobs:
            batch = queue.pending[:self._batch]
            del queue.pending[:self._batch]
            try:
                job = loop.run_in_executor(self._executor, self._work,
                                           [arg for arg, _ in batch])
            except RuntimeError:  # the executor was shut down: the server is stopping
                for _, future in batch:
                    if not future.done():
                        future.set_exception(OSError("media server stopping"))
                continue
            queue.running += 1
            job.add_done_callback(functools.partial(
                self._finished, loop, queue, [future for _, future in batch]))

    def _work(self, args: list[A]) -> list[tuple[R | None, Exception | None]]:
        """In a pool thread: each lookup's result or exception."""
        outcomes: list[tuple[R | None, Exception | None]] = []
        for arg in args:
            try:
                outcomes.append((self._fn(arg), None))
            except Exception as exc:  # noqa: BLE001 - handed to that request's caller
                outcomes.append((None, exc))
        return outcomes

    def _finished(self, loop: asyncio.AbstractEventLoop, queue: _LoopQueue[A, R],
                  futures: list[asyncio.Future[R]],
                  job: asyncio.Future[list[tuple[R | None, Exception | None]]]) -> None:
        queue.running -= 1
        if job.cancelled() or job.exception() is not None:
            error = job.exception() if not job.cancelled() else None
            for future in futures:
                if not future.done():
                    future.set_exception(OSError(f"media lookup failed: {error}"))
        else:
            for future, (result, exc) in zip(futures, job.result(), strict=True):
                if exc is not None:
                    if not future.done():
                        future.set_exception(exc)
                elif future.done():  # its request was cancelled meanwhile
                    if self._discard is not None:
                        self._discard(cast(R, result))
                else:
                    future.set_result(cast(R, result))
        if queue.pending:
            self._start(loop, queue)
