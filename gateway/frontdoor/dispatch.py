"""Which complete request a worker thread runs next: fair between clients, and
well-behaved requests before suspect ones.

A worker pool fed first-come-first-served gives a flood the share of the work its
number of requests buys: 500 flooding connections against 4 publishers leave the
publishers 1 %. Here every request waits in its client address's queue inside a
priority class (0 before 1; the listener decides, e.g. the CIM listener puts
requests without credentials, or from an address backing off after failed logins,
in class 1), and free workers take one request per address in turn. A flood then
slows only the flood.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class FairDispatcher:
    """Runs jobs on `executor`, at most `limit` at once, round-robin by client within
    priority classes. Use from one event loop."""

    def __init__(self, executor: Executor, limit: int) -> None:
        self._executor = executor
        self._limit = limit
        self._running = 0
        self._classes: dict[int, OrderedDict[str, deque[Job]]] = {}

    async def run(self, priority: int, client: str, function: Callable[..., Any],
                  *args: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queues = self._classes.setdefault(priority, OrderedDict())
        queues.setdefault(client, deque()).append((function, args, future))
        self._pump()
        return await future

    def _next(self) -> Job | None:
        for priority in sorted(self._classes):
            queues = self._classes[priority]
            while queues:
                client, queue = next(iter(queues.items()))
                job = queue.popleft()
                if queue:
                    queues.move_to_end(client)  # its next request waits for the others
                else:
                    del queues[client]
                if not job[2].cancelled():
                    return job
        return None

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running < self._limit:
            job = self._next()
            if job is None:
                return
            function, args, future = job
            self._running += 1
            try:
                done = loop.run_in_executor(self._executor, function, *args)
            except RuntimeError as exc:  # executor shut down
                self._running -= 1
                future.set_exception(exc)
                continue
            done.add_done_callback(functools.partial(self._finished, target=future))

    def _finished(self, finished: asyncio.Future[Any], *, target: asyncio.Future[Any]) -> None:
        self._running -= 1
        if not target.cancelled():
            if finished.cancelled():
                target.cancel()
            elif finished.exception() is not None:
                target.set_exception(finished.exception())  # type: ignore[arg-type]
            else:
                target.set_result(finished.result())
        self._pump()
