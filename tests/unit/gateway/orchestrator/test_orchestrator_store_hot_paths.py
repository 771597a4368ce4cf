"""The store calls the executor makes on every step, on a real SQLite file: the
compare-and-set write, the due-run sweep, the lease view and the learned MONITOR time."""

from __future__ import annotations

from datetime import timedelta

from gateway.domain import RunProgress
from gateway.store import GatewayStore, utcnow
from gateway.store.campaigns import CampaignStore
from tests.unit.gateway.orchestrator.conftest import CampaignFactory

LEASE = timedelta(seconds=30)


def test_a_write_lands_only_in_the_expected_step_and_lease(
        stores: tuple[GatewayStore, CampaignStore], make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running")
    assert store.start_runs(campaign, ["n1"], "gw-a", LEASE, "precheck") == ["n1"]
    marked = RunProgress(epoch="e1")
    assert not store.save_run(campaign, "n1", owner="gw-b", expected_step="precheck",
                              progress=marked)  # not the lease holder
    assert not store.save_run(campaign, "n1", owner="gw-a", expected_step="deliver",
                              progress=marked)  # the run is elsewhere
    assert store.save_run(campaign, "n1", owner="gw-a", expected_step="precheck",
                          step="deliver", progress=marked, packages=("p1", "p2"))
    run = store.run(campaign, "n1")
    assert (run.step, run.progress, run.packages) == ("deliver", marked, ("p1", "p2"))


def test_the_sweep_returns_due_keys_of_the_owner_only(
        stores: tuple[GatewayStore, CampaignStore], make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running")
    store.start_runs(campaign, ["n1"], "gw-a", LEASE, "precheck")
    store.start_runs(campaign, ["n2"], "gw-b", LEASE, "precheck")
    now = utcnow()
    assert store.due_run_keys("gw-a", ["precheck"], now) == [(campaign, "n1")]
    assert store.leased_keys("gw-b", ["precheck"]) == {(campaign, "n2")}
    later = now + timedelta(seconds=60)
    assert store.save_run(campaign, "n1", owner="gw-a", expected_step="precheck",
                          next_action_at=later)
    assert store.due_run_keys("gw-a", ["precheck"], now) == []


def test_monitor_seconds_come_back_from_finished_runs(
        stores: tuple[GatewayStore, CampaignStore], make_campaign: CampaignFactory) -> None:
    _, store = stores
    campaign = make_campaign(state="running", steps={"n1": "pending", "n2": "pending",
                                                     "n3": "pending"})
    store.start_runs(campaign, ["n1", "n2", "n3"], "gw", LEASE, "precheck")
    for node, seconds in (("n1", 24.5), ("n2", 25.0)):
        assert store.save_run(campaign, node, owner="gw", expected_step="precheck",
                              step="done", finished_at=utcnow(),
                              timings={"precheck": 0.2, "monitor": seconds})
    # n3 is still running: its (partial) timings do not count.
    assert store.save_run(campaign, "n3", owner="gw", expected_step="precheck",
                          timings={"monitor": 99.0})
    assert sorted(store.monitor_seconds(campaign)) == [24.5, 25.0]
    assert store.monitor_seconds("no-such-campaign") == []
