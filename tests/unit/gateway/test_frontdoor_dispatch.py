"""The fair dispatcher: one request per client address in turn, class 0 before 1."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from gateway.frontdoor.dispatch import FairDispatcher


def test_a_flooding_address_waits_for_the_others_and_class_0_goes_first() -> None:
    order: list[str] = []
    gate = threading.Event()

    def job(name: str) -> str:
        gate.wait(10)  # the first job holds the only worker while the queue fills
        order.append(name)
        return name

    async def main() -> list[str]:
        with ThreadPoolExecutor(max_workers=1) as pool:
            dispatcher = FairDispatcher(pool, limit=1)
            tasks = [asyncio.create_task(dispatcher.run(1, "flood", job, f"flood-{i}"))
                     for i in range(5)]
            await asyncio.sleep(0.05)
            tasks += [asyncio.create_task(dispatcher.run(1, "other", job, "other")),
                      asyncio.create_task(dispatcher.run(0, "publisher", job, "publisher"))]
            await asyncio.sleep(0.05)
            gate.set()
            return list(await asyncio.gather(*tasks))

    results = asyncio.run(main())
    assert results[-2:] == ["other", "publisher"]
    # flood-0 was already running; then the publisher (class 0), then the classes' turns.
    assert order == ["flood-0", "publisher", "flood-1", "other", "flood-2", "flood-3",
                     "flood-4"]
