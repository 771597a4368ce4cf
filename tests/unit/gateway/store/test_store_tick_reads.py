"""The reads a scheduler tick and the media gate make, on SQLite and a real PostgreSQL:
one statement for the runs of the decided campaigns and the busy runs of all the others,
and the nodes of a campaign in given steps."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from gateway.store import GatewayStore, statements_executed, utcnow
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from gateway.store.image_reads import newest_verified_sha

LEASE = timedelta(minutes=5)


def _image(store: GatewayStore, sha: str, state: str, verified_s: float | None,
           manifest: str | None = "{}") -> None:
    now = utcnow()
    with store.engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO images (sha256, state, source, image_uri, bundle_id, release, "
            "manifest_json, manifest_verified, attempts, reason, created_at, updated_at, "
            "verified_at) VALUES (:sha, :state, 'acme', 'http://h/x.iso', 'b', 'r', "
            ":manifest, :verified, 0, '', :now, :now, :at)"),
            {"sha": sha, "state": state, "now": now, "manifest": manifest,
             "verified": manifest is not None,
             "at": None if verified_s is None else now + timedelta(seconds=verified_s)})


def _campaign(campaigns: CampaignStore, campaign_id: str, sha: str, nodes: list[str]) -> None:
    assert campaigns.create_campaign(
        NewCampaign(id=campaign_id, cluster=f"lab-{campaign_id}", image_sha256=sha,
                    bundle_id="b", release="r", state="running", failure_budget=1,
                    canaries=(nodes[0],)),
        [NewRun(node, "pending", canary=node == nodes[0]) for node in nodes])


def test_one_statement_gives_the_decided_runs_and_every_busy_run(database_url: str) -> None:
    store = GatewayStore.open(database_url)
    campaigns = CampaignStore(store.engine)
    _image(store, "a" * 64, "verified", 0)
    _campaign(campaigns, "c1", "a" * 64, ["n3", "n1", "n2"])
    _campaign(campaigns, "c2", "a" * 64, ["m1", "m2"])
    _campaign(campaigns, "c3", "a" * 64, ["k1"])
    assert campaigns.start_runs("c1", ["n2"], "gw", LEASE, "precheck") == ["n2"]
    assert campaigns.start_runs("c2", ["m2"], "gw", LEASE, "precheck") == ["m2"]

    before = statements_executed(store.engine)
    states, busy = campaigns.tick_runs(["c1", "c3"], ("precheck", "deliver"))
    assert statements_executed(store.engine) == before + 1
    # The rows run_states gives, by node id, per decided campaign.
    assert states == {"c1": campaigns.run_states("c1"), "c3": campaigns.run_states("c3")}
    assert [row[:2] for row in states["c1"]] == [("n1", "pending"), ("n2", "precheck"),
                                                 ("n3", "pending")]
    # Busy runs of every campaign, decided or not.
    assert sorted(busy) == [("c1", "n2", "precheck"), ("c2", "m2", "precheck")]
    assert campaigns.tick_runs(["c3"], ("deliver",)) == (
        {"c3": [("k1", "pending", 1, True, False, None)]}, [])


def test_the_nodes_of_a_campaign_in_given_steps(database_url: str) -> None:
    store = GatewayStore.open(database_url)
    campaigns = CampaignStore(store.engine)
    _image(store, "a" * 64, "verified", 0)
    _campaign(campaigns, "c1", "a" * 64, ["n1", "n2", "n3"])
    assert campaigns.start_runs("c1", ["n1", "n3"], "gw", LEASE, "precheck") == ["n1", "n3"]
    assert campaigns.save_run("c1", "n3", owner="gw", expected_step="precheck",
                              step="deliver", step_started_at=utcnow())
    assert campaigns.nodes_in_steps("c1", ("deliver", "monitor")) == {"n3": "deliver"}
    assert campaigns.nodes_in_steps("c1", ("precheck", "deliver")) == {
        "n1": "precheck", "n3": "deliver"}
    assert campaigns.nodes_in_steps("other", ("precheck",)) == {}


def test_newest_verified_image_is_the_latest_verified_one_with_a_manifest(
        database_url: str) -> None:
    store = GatewayStore.open(database_url)
    assert newest_verified_sha(store.engine) is None
    _image(store, "a" * 64, "verified", 0)
    _image(store, "b" * 64, "verified", 10)
    _image(store, "c" * 64, "verified", 20, manifest=None)  # no manifest: no campaign
    _image(store, "d" * 64, "withdrawn", 30)
    _image(store, "e" * 64, "pending", None)
    assert newest_verified_sha(store.engine) == "b" * 64


def test_a_lease_held_by_another_says_how_long_until_it_expires(database_url: str) -> None:
    campaigns = CampaignStore(GatewayStore.open(database_url).engine)
    assert campaigns.lease_wait("scheduler:lab", "gw-a", timedelta(seconds=30)) is None
    wait = campaigns.lease_wait("scheduler:lab", "gw-b", timedelta(seconds=30))
    assert wait is not None and 0 < wait <= 30
    assert not campaigns.take_lease("scheduler:lab", "gw-b", timedelta(seconds=30))
    assert campaigns.lease_wait("scheduler:lab", "gw-a", timedelta(seconds=30)) is None
    # Expired: the other gateway takes it at once.
    assert campaigns.lease_wait("scheduler:x", "gw-a", timedelta(seconds=-1)) is None
    assert campaigns.lease_wait("scheduler:x", "gw-b", timedelta(seconds=30)) is None
