"""Client threads that keep working while a test does something else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager


@contextmanager
def running(workers: Iterable[Callable[[threading.Event], None]]) -> Iterator[None]:
    """Run each worker on a thread of its own for the length of the ``with`` block.

    A worker gets the Event that is set when the block ends, and should return
    soon after; the block's exit waits for every worker.
    """
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(stop,), daemon=True) for worker in workers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()
