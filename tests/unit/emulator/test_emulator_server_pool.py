"""The emulator server's thread hand-over (emulator/server/pool.py): real
threads and a real event loop; waits for conditions, never for time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from emulator.server.pool import LoopInbox, WorkerPool

WAIT_S = 10.0


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(WAIT_S)
    running.close()


def test_a_failing_job_does_not_stop_its_worker() -> None:
    pool = WorkerPool(1)
    done = threading.Event()

    def fail() -> None:
        raise ValueError("a handler bug")

    pool.submit(fail)
    pool.submit(done.set)
    assert done.wait(WAIT_S)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(done.set)


def test_callbacks_reach_the_loop_thread_in_order_and_a_failing_one_drops_none(
        loop: asyncio.AbstractEventLoop) -> None:
    inbox = LoopInbox(loop)
    seen: dict[int, list[int]] = {sender: [] for sender in range(4)}
    threads_seen: set[str] = set()
    finished = threading.Event()
    per_sender = 500

    def record(sender: int, number: int) -> None:
        threads_seen.add(threading.current_thread().name)
        seen[sender].append(number)
        if all(len(numbers) == per_sender for numbers in seen.values()):
            finished.set()

    def broken() -> None:
        raise ValueError("one answer failed")

    def send(sender: int) -> None:
        for number in range(per_sender):
            inbox.put(record, sender, number)
            if number % 100 == 0:
                inbox.put(broken)

    senders = [threading.Thread(target=send, args=(sender,), name=f"sender-{sender}")
               for sender in seen]
    for thread in senders:
        thread.start()
    assert finished.wait(WAIT_S)
    for numbers in seen.values():
        assert numbers == list(range(per_sender))
    assert len(threads_seen) == 1 and not threads_seen & {t.name for t in senders}
