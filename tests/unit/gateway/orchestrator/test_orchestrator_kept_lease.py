"""A lease kept while its work runs past the lease's length: no other gateway takes it
(and repeats the work) until the work ends; then it expires as usual (SQLite and
PostgreSQL)."""

from __future__ import annotations

import time
from datetime import timedelta

from gateway.orchestrator.kept_lease import kept_lease
from gateway.store import GatewayStore
from gateway.store.campaigns import CampaignStore
from tests.support.waiting import wait_until

Stores = tuple[GatewayStore, CampaignStore]
TTL = timedelta(seconds=3)


def test_work_longer_than_the_lease_keeps_it_then_lets_it_expire(stores: Stores) -> None:
    _, store = stores
    assert store.take_lease("create:lab", "gw-a", TTL)
    with kept_lease(store, "create:lab", "gw-a", TTL):
        started = time.monotonic()
        while time.monotonic() - started < 2.5 * TTL.total_seconds():  # the work
            assert not store.take_lease("create:lab", "gw-b", TTL)
            time.sleep(0.2)
    # Work over: nothing renews it, and another gateway gets it once it expires.
    wait_until(lambda: store.take_lease("create:lab", "gw-b", TTL), timeout_s=30,
               interval_s=0.2, describe="the lease to expire after the work ended")


def test_a_lease_without_keeping_is_taken_over_after_its_length(stores: Stores) -> None:
    # What the keeper prevents: the same wait, nobody renewing, another gateway takes it.
    _, store = stores
    assert store.take_lease("create:lab", "gw-a", TTL)
    wait_until(lambda: store.take_lease("create:lab", "gw-b", TTL), timeout_s=30,
               interval_s=0.2, describe="an unrenewed lease to expire")
