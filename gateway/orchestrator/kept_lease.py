"""A named lease kept for as long as a piece of work runs, however long that is.

A lease taken once lasts ``ttl``; work that may outlast it (a campaign's inventory of
a whole cluster: 30 s at 1,000 BMCs on a quiet machine, minutes on a loaded one)
renews it in the background, every third of ``ttl``, until the work ends. Without
that, another gateway takes the expired lease and repeats the work (it inventories
the cluster again and subscribes every BMC a second time). Losing the lease (the
database unreachable, or a pause longer than ``ttl``) is logged; the work's own
outcome stays safe either way, since the store refuses a second campaign for the same
image and cluster.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Protocol

from gateway.store import StoreError

LOG = logging.getLogger(__name__)


class LeaseStore(Protocol):
    def take_lease(self, name: str, owner: str, ttl: timedelta) -> bool: ...


@contextmanager
def kept_lease(store: LeaseStore, name: str, owner: str, ttl: timedelta) -> Iterator[None]:
    """Renew the lease ``name`` (already taken by ``owner``) until the block ends."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(ttl.total_seconds() / 3):
            try:
                kept = store.take_lease(name, owner, ttl)
            except StoreError as exc:
                LOG.warning("lease %s: not renewed (%s); another gateway may take it",
                            name, exc)
                continue
            if not kept:
                LOG.warning("lease %s: lost to another gateway while %s still held it",
                            name, owner)
                return

    keeper = threading.Thread(target=renew, name=f"lease {name}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()


__all__ = ["kept_lease"]
