"""Fencing before BMC-changing requests, against a real emulated BMC and a real database:
a gateway whose lease was taken over, or that cannot reach the database, sends nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from gateway.orchestrator.engine import Engine
from gateway.orchestrator.errors import LeaseLostError
from gateway.orchestrator.settings import OrchestratorSettings
from gateway.redfish import BmcEndpoint
from gateway.store import Decision, GatewayStore, ImageState, NewAlert, StoreError
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from tests.integration.orchestrator.rig import TEST_MODEL, power_on, wait_for
from tests.support.postgres import PostgresServer

SHA = "d" * 64
LEASE = timedelta(seconds=30)


def _campaign(images: GatewayStore, store: CampaignStore, node: str) -> None:
    images.admit_update(NewAlert(
        channel="cli", decision=Decision.ACCEPTED, reason="", source="acme",
        indication_identifier="i-1", message_id="FWUP0001", image_sha256=SHA,
        image_uri="http://h.example/a.iso", bundle_id="b", release="r"))
    assert images.claim_next_image("gw", LEASE) is not None
    assert images.finish_image(SHA, "gw", ImageState.VERIFIED)
    assert store.create_campaign(NewCampaign(
        id="c1", cluster="lab", image_sha256=SHA, bundle_id="b", release="r",
        state="running", failure_budget=0, canaries=()), [NewRun(node_id=node, step="pending")])


def _resets(emulated: EmulatedCluster) -> int:
    return len(emulated.audit.records(event="reset"))


def test_taken_over_or_partitioned_gateways_never_reset_the_host(
        private_postgres: PostgresServer) -> None:
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL)], reset_seconds=0.1) as emulated:
        power_on(emulated)
        bmc = emulated.inventory[0]
        endpoint = BmcEndpoint(bmc["id"], bmc["url"], bmc["username"], bmc["password"],
                               timeout=10.0)
        images = GatewayStore.open(private_postgres.create_database())
        store = CampaignStore(images.engine)
        _campaign(images, store, bmc["id"])
        assert store.start_runs("c1", [bmc["id"]], "gw-a", LEASE, "precheck") == [bmc["id"]]
        engine = Engine(store, OrchestratorSettings(), "gw-a")
        run = store.run("c1", bmc["id"])
        engine.clients.set_guard(run.node_id, lambda: engine._check_fence(run))
        client = engine.clients.get(endpoint)
        before = _resets(emulated)

        client.reset_host()  # holds the lease at its fence: the request goes out
        assert _resets(emulated) == before + 1
        assert wait_for(lambda: client.power_state().value == "On", 30)  # booted again

        # Taken over (lease expired, another gateway claimed it): fence 1 -> 2.
        assert store.save_run("c1", run.node_id, owner="gw-a", expected_step="precheck",
                              lease_expires=run.updated_at - timedelta(seconds=1))
        assert store.claim_runs("gw-b", LEASE, ["precheck"], ["c1"]) == 1
        with pytest.raises(LeaseLostError, match="lease lost"):
            client.reset_host()
        assert _resets(emulated) == before + 1

        # Partitioned from the database: the check cannot succeed, so nothing is sent.
        run = store.run("c1", run.node_id)
        engine_b = Engine(store, OrchestratorSettings(), "gw-b")
        engine_b.clients.set_guard(run.node_id, lambda: engine_b._check_fence(run))
        client_b = engine_b.clients.get(endpoint)
        private_postgres.stop()
        with pytest.raises(StoreError):
            client_b.reset_host()
        assert _resets(emulated) == before + 1
        engine.clients.close_all()
        engine_b.clients.close_all()
        images.engine.dispose()
