"""Several gateways on one database share new nodes fairly: the leader drives its
`leader_share` of an equal share, a gateway that (re)joins is given the next nodes, a
stopped one none; the others are woken by a PostgreSQL notice when nodes are started
for them (on SQLite, one gateway per file, there are none)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from gateway.orchestrator.membership import Membership
from gateway.orchestrator.scheduler import Scheduler
from gateway.orchestrator.settings import OrchestratorSettings
from gateway.store import GatewayStore
from gateway.store.campaigns import CampaignStore
from gateway.store.gateways import list_members
from gateway.store.work_notices import WorkNotices
from tests.unit.gateway.orchestrator.conftest import CampaignFactory

Stores = tuple[GatewayStore, CampaignStore]
LEASE = timedelta(seconds=60)


def _member(store: CampaignStore, name: str, share: float = 1.0) -> Membership:
    member = Membership(store, name, f"instance-{name}", LEASE, leader_share=share)
    member.join()
    return member


def _start(store: CampaignStore, campaign: str, leader: Membership, nodes: list[str]
           ) -> Counter[str]:
    """Start `nodes` as the leader does, each driven by the member it assigns; how many
    each gateway now holds (what `GET /api/gateways` shows)."""
    started = store.start_runs(campaign, nodes, leader.name, LEASE, "precheck",
                               owners=leader.assign(nodes))
    assert started == nodes
    return Counter({m.name: m.held_runs for m in list_members(store.engine)})


def test_the_leader_drives_its_share_and_a_rejoining_gateway_the_next_nodes(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    nodes = [f"n{i:02d}" for i in range(15)]
    campaign = make_campaign(state="running", steps=dict.fromkeys(nodes, "pending"))
    leader = _member(store, "gw-a", share=0.5)
    assert _start(store, campaign, leader, nodes[:2]) == {"gw-a": 2}  # alone: every node
    other = _member(store, "gw-b")
    # Half an equal share for the leader: it also plans and admits for the cluster.
    assert _start(store, campaign, leader, nodes[2:9]) == {"gw-a": 3, "gw-b": 6}
    # A gateway that (re)joins holds nothing: it is given the next nodes first...
    _member(store, "gw-c")
    assert _start(store, campaign, leader, nodes[9:12]) == {"gw-a": 3, "gw-b": 6, "gw-c": 3}
    # ...and one that stopped is given none.
    other.leave()
    held = _start(store, campaign, leader, nodes[12:15])
    assert held == {"gw-a": 3, "gw-b": 6, "gw-c": 6}


def test_with_a_leader_share_of_one_the_nodes_split_evenly(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    nodes = [f"n{i}" for i in range(10)]
    campaign = make_campaign(state="running", steps=dict.fromkeys(nodes, "pending"))
    leader = _member(store, "gw-a", share=1.0)
    _member(store, "gw-b")
    assert _start(store, campaign, leader, nodes) == {"gw-a": 5, "gw-b": 5}


def test_a_gateway_is_woken_when_nodes_are_started_for_it(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    nodes = [f"n{i:03d}" for i in range(200)]
    campaign = make_campaign(state="running", steps=dict.fromkeys(nodes, "pending"))
    woken = threading.Event()
    notices = WorkNotices(store.engine, "gw-b", woken.set)
    notices.start()
    try:
        if store.engine.dialect.name != "postgresql":
            assert not notices.supported  # SQLite: one gateway, nothing to wake
            return
        # The listener connects on its own thread: nodes started before its LISTEN
        # took effect wake nobody (the sweep finds them), so start one after another
        # until a notice arrives, each leased to gw-b.
        for node in nodes:
            assert store.start_runs(campaign, [node], "gw-a", LEASE, "precheck",
                                    owners={node: "gw-b"}) == [node]
            if woken.wait(0.25):
                break
        assert woken.is_set(), "no notice within 200 nodes started for gw-b"
        # Nodes the leader starts for itself wake nobody else.
        woken.clear()
        started = [n for n in nodes if store.run(campaign, n).step == "pending"][:3]
        assert store.start_runs(campaign, started, "gw-a", LEASE, "precheck") == started
        assert store.start_runs(campaign, [nodes[-1]], "gw-a", LEASE, "precheck",
                                owners={nodes[-1]: "gw-b"}) == [nodes[-1]]
        assert woken.wait(30)
    finally:
        notices.stop()



def test_the_leader_is_woken_when_another_member_finishes_a_node(stores: Stores) -> None:
    _, store = stores
    finished = threading.Event()
    started_for_me = threading.Event()
    leader = WorkNotices(store.engine, "gw-a", started_for_me.set, on_schedule=finished.set)
    member = WorkNotices(store.engine, "gw-b", lambda: None)
    leader.start()
    try:
        if store.engine.dialect.name != "postgresql":
            assert not leader.supported  # SQLite: one gateway, nothing to tell
            member.schedule_now()  # and telling nobody fails nothing
            return
        # Sent until the listener's LISTEN has taken effect (it connects on its thread).
        for _ in range(200):
            member.schedule_now()
            if finished.wait(0.25):
                break
        assert finished.is_set(), "the leader heard of no finished node"
        assert not started_for_me.is_set()  # not mistaken for work started for it
    finally:
        leader.stop()


def test_a_gateway_named_like_nothing_else_is_not_woken_by_a_finished_node(
        stores: Stores) -> None:
    """The schedule notice has a channel of its own: no gateway name (names are not
    restricted) can take it for "nodes were started for you"."""
    _, store = stores
    if store.engine.dialect.name != "postgresql":
        pytest.skip("notices are PostgreSQL's")
    started_for_me = threading.Event()
    finished = threading.Event()
    odd = WorkNotices(store.engine, "", started_for_me.set, on_schedule=finished.set)
    odd.start()
    try:
        for _ in range(200):
            WorkNotices(store.engine, "gw-b", lambda: None).schedule_now()
            if finished.wait(0.25):
                break
        assert finished.is_set()
        assert not started_for_me.is_set()
    finally:
        odd.stop()


def test_only_the_gateway_holding_the_scheduler_lease_leads(stores: Stores) -> None:
    images, store = stores
    settings = OrchestratorSettings(lease_s=30)
    first = Scheduler(store, images, {}, settings, "gw-a")
    second = Scheduler(store, images, {}, settings, "gw-b")
    assert not first.leads("c1")  # never asked
    assert first._lead("c1")
    assert not second._lead("c1")  # gw-a's lease, unexpired
    assert first.leads("c1")
    assert not second.leads("c1")
    assert not first.leads("c2")  # a cluster it never led


def test_a_member_that_joined_since_the_heartbeat_is_counted_on_asking(
        stores: Stores) -> None:
    """Before a new campaign's image is offered to the peers (wiring.offer_images)."""
    _, store = stores
    leader = _member(store, "gw-a")
    leader.heartbeat()
    assert leader.live_members == 1
    _member(store, "gw-b")
    assert leader.live_members == 1  # as of the last heartbeat
    assert leader.recount() == 2
    assert leader.live_members == 2
