"""Blocking catalog lookups off the event loops, their answers handed back in batches.

The catalog may block (a database, hashing an image on first use), so it never
runs on a loop. loop.run_in_executor was the largest cost of taking in a fleet
that connects at once (py-spy under bench/front_door.py, docs/performance.md):
per lookup a concurrent Future with its Condition, a chained asyncio Future, a
done-callback under a lock and a self-pipe write to wake the loop. Here a
lookup is an asyncio Future and a queue entry; a worker takes whatever lookups
are waiting (up to BATCH) and hands each loop its answers in one
call_soon_threadsafe. Several workers still overlap lookups that block.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
BATCH = 64
_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]
_Answer = tuple["asyncio.Future[Any]", bool, Any]  # future, succeeded, value or error


class LookupPool:
    """`threads` workers running blocking calls for coroutines on any event loop."""

    def __init__(self, threads: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"{name}-{i}")
                         for i in range(threads)]
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()

    def stop(self) -> None:
        """Let the workers end after the lookups already queued (does not wait)."""
        for _ in self._threads:
            self._jobs.put(None)

    def run(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """`call()` in a worker; its result or exception resolves the returned future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((loop, future, call))
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            jobs, stopping = [job], False
            while len(jobs) < BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
            answers: dict[asyncio.AbstractEventLoop, list[_Answer]] = {}
            for loop, future, call in jobs:
                try:
                    answer: _Answer = (future, True, call())
                except Exception as exc:  # noqa: BLE001 - handed to the waiting coroutine
                    answer = (future, False, exc)
                answers.setdefault(loop, []).append(answer)
            for loop, settled in answers.items():
                with contextlib.suppress(RuntimeError):  # the loop closed: server stopping
                    loop.call_soon_threadsafe(_settle, settled)
            if stopping:
                return


def _settle(answers: list[_Answer]) -> None:
    for future, succeeded, value in answers:
        if future.done():  # its waiter was cancelled meanwhile
            continue
        if succeeded:
            future.set_result(value)
        else:
            future.set_exception(value)
