"""A member of a fleet makes ready the BMCs of an open campaign before their nodes' turn
(gateway/orchestrator/fleet_warmup.py): logged in, and pushing their events to it, so
a node's first step in a wave's burst does neither. Real emulated BMCs, a real store
(SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec as EmulatedNode
from gateway.domain import Cluster, NodeSpec, RedundancyGroup
from gateway.orchestrator.client_pool import ClientPool
from gateway.orchestrator.fleet_warmup import FleetWarmup
from gateway.orchestrator.inventory import EventDestination
from gateway.orchestrator.settings import ClusterSettings
from gateway.redfish import BmcEndpoint
from gateway.store import Decision, GatewayStore, ImageState, NewAlert
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from tests.conftest import TestKeys
from tests.integration.orchestrator.rig import TEST_MODEL
from tests.support.ports import restartable_port

SHA = "d" * 64
EVENTS = "http://127.0.0.1:9/redfish-events/"


@pytest.fixture
def bmcs(test_keys: TestKeys) -> Iterator[list[dict[str, str]]]:
    with EmulatedCluster(nodes=[EmulatedNode(model=TEST_MODEL)] * 3,
                         trusted_keys=[test_keys.public]) as cluster:
        yield cluster.inventory


@pytest.fixture
def store(database_url: str) -> Iterator[CampaignStore]:
    images = GatewayStore.open(database_url)
    images.admit_update(NewAlert(
        channel="cli", decision=Decision.ACCEPTED, reason="", source="acme",
        indication_identifier="i-1", message_id="FWUP0001", image_sha256=SHA,
        image_uri="http://h.example/a.iso", bundle_id="b", release="r"))
    assert images.claim_next_image("gw", timedelta(seconds=60)) is not None
    assert images.finish_image(SHA, "gw", ImageState.VERIFIED)
    yield CampaignStore(images.engine)
    images.close()


def _endpoint(bmc: dict[str, str]) -> BmcEndpoint:
    return BmcEndpoint(bmc["id"], bmc["url"], bmc["username"], bmc["password"], timeout=5.0)


def _read(bmc: dict[str, str], path: str) -> list[dict[str, Any]]:
    auth = (bmc["username"], bmc["password"])
    members = requests.get(bmc["url"] + path, auth=auth, timeout=10).json()["Members"]
    return [requests.get(bmc["url"] + m["@odata.id"], auth=auth, timeout=10).json()
            for m in members]


def _destinations(bmc: dict[str, str]) -> list[str]:
    return [s["Destination"] for s in _read(bmc, "/redfish/v1/EventService/Subscriptions")]


def test_a_fleet_member_makes_the_waiting_nodes_ready_and_leaves_the_others(
        bmcs: list[dict[str, str]], store: CampaignStore) -> None:
    waiting, driven, later = bmcs
    silent = BmcEndpoint("n-silent", f"http://127.0.0.1:{restartable_port()}", "u", "p",
                         timeout=2.0)
    endpoints = {b["id"]: _endpoint(b) for b in bmcs} | {silent.name: silent}
    cluster = Cluster("lab", (RedundancyGroup("g", 1),),
                      tuple(NodeSpec(node, "g") for node in endpoints))
    steps = {waiting["id"]: "pending", driven["id"]: "precheck",
             later["id"]: "pending", silent.name: "pending"}
    assert store.create_campaign(NewCampaign(
        id="c1", cluster="lab", image_sha256=SHA, bundle_id="b", release="r",
        state="running", failure_budget=0, canaries=(waiting["id"],)),
        [NewRun(node_id=node, step=step) for node, step in steps.items()])
    pool = ClientPool()
    warmup = FleetWarmup(store, {"lab": ClusterSettings(cluster, endpoints)}, pool,
                         EventDestination(lambda node: f"{EVENTS}{node}/token"),
                         lambda: False)
    try:
        others = dataclasses.replace(store.get_campaign("c1"), id="c9", cluster="elsewhere")
        warmup.warm([store.get_campaign("c1"), others])  # another gateway's cluster
        assert warmup._thread is not None
        warmup._thread.join(timeout=60)
        # The waiting nodes' BMCs push to this gateway and hold its session.
        for bmc in (waiting, later):
            assert _destinations(bmc) == [f"{EVENTS}{bmc['id']}/token"]
            assert len(_read(bmc, "/redfish/v1/SessionService/Sessions")) == 1
            assert pool.pushes_events(bmc["id"])
        # A node already being driven is its driver's; a silent BMC is left to the
        # node's first step.
        assert _destinations(driven) == []
        assert not pool.pushes_events(driven["id"])
        assert not pool.pushes_events(silent.name)
    finally:
        pool.close_all()


def test_two_threads_connecting_one_node_log_in_once(bmcs: list[dict[str, str]]) -> None:
    bmc = bmcs[0]
    pool = ClientPool()
    start = threading.Barrier(4)
    clients: list[object] = []

    def connect() -> None:
        start.wait()
        clients.append(pool.get(_endpoint(bmc)))

    threads = [threading.Thread(target=connect) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(clients) == 4 and len({id(c) for c in clients}) == 1
        assert len(_read(bmc, "/redfish/v1/SessionService/Sessions")) == 1
    finally:
        pool.close_all()
