"""Several gateways on one database: registration, heartbeats, leases with fencing,
fair-share takeover and leader-only admission (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import gateway.orchestrator.membership as membership_module
import gateway.store.gateways as gateways_module
from gateway.orchestrator.membership import Membership
from gateway.store import GatewayStore, utcnow
from gateway.store.campaigns import CampaignStore
from gateway.store.gateways import GatewayRegistry, GatewayRow, NameInUseError, list_members
from tests.unit.gateway.orchestrator.conftest import SHA, CampaignFactory

Stores = tuple[GatewayStore, CampaignStore]
LEASE = timedelta(seconds=60)
BUSY = ["precheck"]


def _registry(store: CampaignStore, name: str, instance: str, *, host: str = "h1",
              pid: int = 100, alive: bool = True) -> GatewayRegistry:
    return GatewayRegistry(store.engine, name, instance, host=host, pid=pid,
                           dead_after=LEASE, pid_alive=lambda _pid: alive)


def _expire(store: CampaignStore, campaign: str, node: str, owner: str) -> None:
    assert store.save_run(campaign, node, owner=owner, expected_step="precheck",
                          lease_expires=store.run(campaign, node).updated_at
                          - timedelta(seconds=1))


def test_a_second_gateway_with_the_same_name_is_refused(stores: Stores) -> None:
    _, store = stores
    _registry(store, "gw-a", "one", host="h1").register("http://127.0.0.1:1")
    with pytest.raises(NameInUseError, match="'gw-a' is in use by a running gateway"):
        _registry(store, "gw-a", "two", host="h2").register()
    with pytest.raises(NameInUseError):  # same host, the first process still running
        _registry(store, "gw-a", "three", host="h1", pid=200, alive=True).register()
    assert [(m.name, m.alive) for m in list_members(store.engine)] == [("gw-a", True)]


def test_a_restart_after_kill_9_takes_its_name_back_and_fences_the_old_process(
        stores: Stores) -> None:
    _, store = stores
    old = _registry(store, "gw-a", "old", pid=100)
    old.register()
    new = _registry(store, "gw-a", "new", pid=200, alive=False)  # pid 100 is gone
    new.register()
    assert new.heartbeat() and not old.heartbeat()
    new.deregister()
    assert [m.alive for m in list_members(store.engine)] == [False]
    _registry(store, "gw-a", "later", host="h9").register()  # a clean stop frees it


def test_members_list_heartbeats_and_held_runs(stores: Stores,
                                               make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running")
    for name in ("gw-a", "gw-b"):
        _registry(store, name, name).register()
    store.start_runs(campaign, ["n1", "n2"], "gw-a", LEASE, "precheck",
                     owners={"n1": "gw-a", "n2": "gw-b"})
    members = {m.name: m for m in list_members(store.engine)}
    assert {n: (m.alive, m.held_runs) for n, m in members.items()} == {
        "gw-a": (True, 1), "gw-b": (True, 1)}
    assert all(0 <= m.heartbeat_age_s < 30 for m in members.values())


def test_takeover_raises_the_fence_and_the_old_holder_fails_the_check(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running")
    assert store.start_runs(campaign, ["n1"], "gw-a", LEASE, "precheck") == ["n1"]
    first = store.run(campaign, "n1")
    assert first.fence == 1 and store.holds(campaign, "n1", "gw-a", 1)
    store.claim_runs("gw-a", LEASE, BUSY, [campaign])  # renewal keeps the fence
    assert store.run(campaign, "n1").fence == 1
    _expire(store, campaign, "n1", "gw-a")
    assert not store.holds(campaign, "n1", "gw-a", 1)  # expired: no BMC action
    assert store.claim_runs("gw-b", LEASE, BUSY, [campaign]) == 1
    taken = store.run(campaign, "n1")
    assert (taken.lease_owner, taken.fence) == ("gw-b", 2)
    assert store.holds(campaign, "n1", "gw-b", 2)
    assert not store.holds(campaign, "n1", "gw-a", 1)
    assert store.claim_runs("gw-a", LEASE, BUSY, [campaign]) == 0  # it stays gw-b's


def test_orphaned_runs_are_shared_among_the_live_members(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    nodes = {f"n{i}": "pending" for i in range(1, 6)}
    campaign = make_campaign(state="running", steps=nodes)
    assert len(store.start_runs(campaign, list(nodes), "gw-dead", LEASE, "precheck")) == 5
    for node in nodes:
        _expire(store, campaign, node, "gw-dead")
    # Each claim takes its share of what is still waiting; the next round the rest.
    assert store.claim_runs("gw-b", LEASE, BUSY, [campaign], members=2) == 3
    assert store.claim_runs("gw-c", LEASE, BUSY, [campaign], members=2) == 1
    assert store.claim_runs("gw-c", LEASE, BUSY, [campaign], members=2) == 2
    owners = {store.run(campaign, n).lease_owner for n in nodes}
    assert owners == {"gw-b", "gw-c"}


def test_only_the_leader_admits(stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running")
    assert store.take_lease("scheduler:lab", "gw-a", LEASE)
    assert store.start_runs(campaign, ["n1"], "gw-b", LEASE, "precheck",
                            leader_lease="scheduler:lab") == []
    assert store.start_runs(campaign, ["n1"], "gw-a", LEASE, "precheck",
                            leader_lease="scheduler:lab") == ["n1"]


def test_only_dead_members_event_destinations_are_superseded(
        stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a gateway subscribing a BMC may remove: subscriptions to a member of this
    # database that is gone (silent for 10 leases) or stopped. Never a live or merely
    # late member's, never an
    # address this database does not know (a gateway on another database), and nothing
    # while a live member's events address is unknown.
    _, store = stores
    me = Membership(store, "gw-me", "me", LEASE)
    me.join(events_url="http://10.0.0.1:8443/redfish-events/")
    GatewayRegistry(store.engine, "gw-dead", "x", host="h2", pid=1,
                    dead_after=timedelta(microseconds=1)).register(
        events_url="http://10.0.0.2:8443/redfish-events/")
    stopped = _registry(store, "gw-stopped", "y", host="h3")
    stopped.register(events_url="http://10.0.0.3:8443/redfish-events/")
    stopped.deregister()
    peer = _registry(store, "gw-peer", "z", host="h4")
    peer.register(events_url="http://10.0.0.4:8443/redfish-events/")
    late = _registry(store, "gw-late", "w", host="h5")  # silent 5 leases: late, not gone
    late.register(events_url="http://10.0.0.5:8443/redfish-events/")
    with store.engine.begin() as connection:
        connection.execute(sa.update(GatewayRow).where(GatewayRow.name == "gw-late").values(
            heartbeat_at=utcnow() - 5 * LEASE))
    renamed = _registry(store, "gw-late-old-name", "v", host="h5")  # same address, gone
    renamed.register(events_url="http://10.0.0.5:8443/redfish-events/")
    renamed.deregister()
    assert me.heartbeat()
    assert not me.superseded("http://10.0.0.5:8443/redfish-events/n1/token")
    assert me.superseded("http://10.0.0.2:8443/redfish-events/n1/token")
    assert me.superseded("http://10.0.0.3:8443/redfish-events/n1/token")
    assert not me.superseded("http://10.0.0.4:8443/redfish-events/n1/token")
    assert not me.superseded("http://10.0.0.1:8443/redfish-events/n1/token")
    assert not me.superseded("http://10.9.9.9:8443/redfish-events/n1/token")  # not ours
    # The stopped gateway comes back after this gateway's heartbeat: asked before the
    # next one, the database is read again (at most once a second: here at once) and
    # its subscriptions stay.
    monkeypatch.setattr(membership_module, "EVENTS_REREAD_S", 0.0)
    _registry(store, "gw-stopped", "y2", host="h3").register(
        events_url="http://10.0.0.3:8443/redfish-events/")
    assert not me.superseded("http://10.0.0.3:8443/redfish-events/n1/token")
    peer.register()  # a live member that receives no events (or says nothing of them)
    assert me.heartbeat()
    assert not me.superseded("http://10.0.0.2:8443/redfish-events/n1/token")


def test_leases_follow_the_database_clock_not_a_skewed_gateway_clock(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # PostgreSQL only: with SQLite every gateway is on this machine, one clock.
    images = GatewayStore.open(postgres_url)
    store = CampaignStore(images.engine)
    try:
        assert store.take_lease("scheduler:lab", "gw-a", timedelta(seconds=30))
        real = gateways_module.utcnow
        monkeypatch.setattr(gateways_module, "utcnow", lambda: real() + timedelta(hours=1))
        assert not store.take_lease("scheduler:lab", "gw-b", timedelta(seconds=30))
        gw_b = GatewayRegistry(images.engine, "gw-b", "x", host="h", pid=1,
                               dead_after=LEASE)
        gw_b.register()
        assert [m.heartbeat_age_s < 30 for m in list_members(images.engine)] == [True]
    finally:
        images.close()


assert SHA  # the conftest's verified image backs every campaign here
