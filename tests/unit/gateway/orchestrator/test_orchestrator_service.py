"""Operator actions and store compare-and-set rules, on a real SQLite database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.domain import IllegalTransitionError
from gateway.orchestrator import CampaignService
from gateway.store import GatewayStore, NotFoundError
from gateway.store.campaign_records import NewCampaign
from gateway.store.campaigns import CampaignStore
from tests.unit.gateway.orchestrator.conftest import SHA, CampaignFactory

Stores = tuple[GatewayStore, CampaignStore]
LEASE = timedelta(seconds=30)


def service_of(stores: Stores) -> CampaignService:
    return CampaignService(*stores)


def test_approve_pause_resume_abort_follow_the_domain(stores: Stores,
                                                      make_campaign: CampaignFactory) -> None:
    service = service_of(stores)
    campaign = make_campaign()
    with pytest.raises(IllegalTransitionError, match="pending_approval"):
        service.pause(campaign)
    assert service.approve(campaign).state == "running"
    with pytest.raises(IllegalTransitionError):
        service.approve(campaign)
    assert service.pause(campaign).state == "paused"
    assert service.resume(campaign).state == "running"
    aborted = service.abort(campaign)
    assert aborted.state == "aborted" and aborted.finished_at is not None
    assert {r.step for r in service.show(campaign).runs} == {"skipped"}
    with pytest.raises(IllegalTransitionError):
        service.resume(campaign)


def test_resume_is_refused_while_the_failure_budget_is_exceeded(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    service = service_of(stores)
    campaign = make_campaign(state="paused_budget", budget=0,
                             steps={"n1": "done", "n2": "quarantined", "n3": "pending"})
    with pytest.raises(IllegalTransitionError, match="failure budget still exceeded"):
        service.resume(campaign)
    service.clear_node(campaign, "n2")
    assert service.show(campaign).runs[1].step == "skipped"
    assert service.resume(campaign).state == "running"


def test_retry_puts_a_quarantined_node_back_and_releases_a_held_one(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    service = service_of(stores)
    campaign = make_campaign(state="running",
                             steps={"n1": "quarantined", "n2": "pending", "n3": "done"},
                             held=("n2",))
    retried = service.retry_node(campaign, "n1")
    assert (retried.step, retried.attempt, retried.error) == ("pending", 2, None)
    released = service.retry_node(campaign, "n2")
    assert released.step == "pending" and not released.held
    with pytest.raises(IllegalTransitionError, match="only a quarantined or partial node"):
        service.retry_node(campaign, "n3")
    with pytest.raises(IllegalTransitionError, match="can be cleared"):
        service.clear_node(campaign, "n3")
    with pytest.raises(NotFoundError):
        service.retry_node(campaign, "nobody")
    with pytest.raises(NotFoundError):
        service.approve("no-such-campaign")


def test_actions_on_a_finished_campaign_are_refused(stores: Stores,
                                                    make_campaign: CampaignFactory) -> None:
    campaign = make_campaign(state="failed", steps={"n1": "quarantined"})
    with pytest.raises(IllegalTransitionError, match="campaign c1 is failed"):
        service_of(stores).retry_node(campaign, "n1")


def test_a_second_campaign_for_the_same_image_and_cluster_is_not_created(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    make_campaign()
    _, store = stores
    again = NewCampaign(id="c2", cluster="lab", image_sha256=SHA, bundle_id="b", release="r",
                        state="running", failure_budget=0, canaries=())
    assert not store.create_campaign(again, [])
    assert [c.id for c in store.list_campaigns()] == ["c1"]


def test_starting_is_compare_and_set_and_never_starts_held_nodes(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running", held=("n2",))
    assert store.start_runs(campaign, ["n1", "n2"], "gw-a", LEASE, "precheck") == ["n1"]
    assert store.start_runs(campaign, ["n1"], "gw-b", LEASE, "precheck") == []
    assert store.run(campaign, "n1").lease_owner == "gw-a"


def test_leases_keep_other_gateways_out_until_they_expire(
        stores: Stores, make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running")
    store.start_runs(campaign, ["n1"], "gw-a", LEASE, "precheck")
    assert store.claim_runs("gw-b", LEASE, ["precheck"], [campaign]) == 0
    assert not store.save_run(campaign, "n1", owner="gw-b", expected_step="precheck",
                              step="drain")
    assert store.claim_runs("gw-a", LEASE, ["precheck"], [campaign]) == 1
    # An expired lease (a crashed gateway) is taken over by whoever claims next.
    assert store.save_run(campaign, "n1", owner="gw-a", expected_step="precheck",
                          lease_expires=store.run(campaign, "n1").updated_at
                          - timedelta(seconds=1))
    assert store.claim_runs("gw-b", LEASE, ["precheck"], [campaign]) == 1
    assert store.run(campaign, "n1").lease_owner == "gw-b"
    assert store.take_lease("scheduler:lab", "gw-a", LEASE)
    assert not store.take_lease("scheduler:lab", "gw-b", LEASE)
    assert store.take_lease("scheduler:lab", "gw-a", LEASE)
