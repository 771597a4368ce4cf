"""The catalog lookup pool: blocking calls off the event loops, answers back to each loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from gateway.media.lookups import BATCH, LookupPool


@pytest.fixture
def pool() -> Iterator[LookupPool]:
    lookups = LookupPool(3, "test-lookups")
    lookups.start()
    yield lookups
    lookups.stop()


def test_media_lookups_answer_every_caller_with_its_own_result(pool: LookupPool) -> None:
    async def many() -> list[int]:
        return list(await asyncio.gather(*(pool.run(lambda i=i: i * i)
                                           for i in range(3 * BATCH))))

    assert asyncio.run(many()) == [i * i for i in range(3 * BATCH)]


def test_media_lookups_run_off_the_loop_thread_and_raise_in_the_caller(
        pool: LookupPool) -> None:
    async def lookups() -> tuple[int, int]:
        worker = await pool.run(threading.get_ident)
        with pytest.raises(OSError, match="out of descriptors"):
            await pool.run(_fails)
        return threading.get_ident(), worker

    loop_thread, worker = asyncio.run(lookups())
    assert worker != loop_thread


def test_media_lookups_serve_several_loops_at_once(pool: LookupPool) -> None:
    results: dict[int, list[int]] = {}
    release = threading.Event()

    def loop_thread(index: int) -> None:
        async def lookups() -> list[int]:
            return list(await asyncio.gather(
                *(pool.run(lambda v=v: (release.wait(10), v)[1]) for v in range(20))))
        results[index] = asyncio.run(lookups())

    threads = [threading.Thread(target=loop_thread, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {i: list(range(20)) for i in range(3)}


def test_media_a_cancelled_lookup_leaves_the_others_answered(pool: LookupPool) -> None:
    gate = threading.Event()

    async def lookups() -> list[int]:
        slow = pool.run(lambda: (gate.wait(10), -1)[1])
        slow.cancel()
        others = [pool.run(lambda v=v: v) for v in range(5)]
        gate.set()
        return list(await asyncio.gather(*others))

    assert asyncio.run(lookups()) == list(range(5))


def _fails() -> None:
    raise OSError("out of descriptors")
