"""GET /api/campaigns/ID/timeline and its drawing, on the real orchestrator service and
store: steps recorded as the engine records them come back per node with their wave,
failures say why, each group's allowance in use is counted over time, and the campaign
page and the HTML report draw the same chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest

from gateway.api.orchestration import OrchestratorOperations
from gateway.api.timeline_svg import report_html, timeline_svg
from gateway.domain import Cluster, NodeSpec, RedundancyGroup
from gateway.orchestrator.service import CampaignService
from gateway.orchestrator.settings import ClusterSettings
from gateway.store import utcnow
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from tests.unit.gateway.api.conftest import IMAGE_PREFIX, ApiHarness

SHA = "ab" * 32
SVG = "{http://www.w3.org/2000/svg}"
LEASE = timedelta(minutes=5)


@pytest.fixture
def campaigns(api: ApiHarness) -> CampaignStore:
    """Campaign "c1" on cluster "lab": n1 the canary, n2/n3 in group "a" (allowance 1),
    n4 in group "b" (allowance 2, so 1: its only member), all pending."""
    api.client.post("/api/alerts", headers=api.headers("operator"), json={
        "source": "acme", "image_uri": IMAGE_PREFIX + "x.iso", "sha256": SHA,
        "bundle_id": "b", "release": "2026.4"})
    store = CampaignStore(api.context.store.engine)
    cluster = Cluster("lab", (RedundancyGroup("a", max_unavailable=1),
                              RedundancyGroup("b", max_unavailable=2)),
                      (NodeSpec("n1", "a"), NodeSpec("n2", "a"), NodeSpec("n3", "a"),
                       NodeSpec("n4", "b")), failure_budget=1)
    api.context.operations = OrchestratorOperations(
        CampaignService(api.context.store, store),
        {"lab": ClusterSettings(cluster, endpoints={})})
    assert store.create_campaign(
        NewCampaign(id="c1", cluster="lab", image_sha256=SHA, bundle_id="b",
                    release="2026.4", state="running", failure_budget=1, canaries=("n1",)),
        [NewRun("n1", "pending", canary=True, model="FF"), NewRun("n2", "pending"),
         NewRun("n3", "pending"), NewRun("n4", "pending")])
    return store


def _walk(store: CampaignStore, node: str, steps: list[str], **last: Any) -> None:
    store.start_runs("c1", [node], "gw", LEASE, steps[0])
    for old, new in zip(steps, steps[1:], strict=False):
        fields = last if new == steps[-1] else {}
        assert store.save_run("c1", node, owner="gw", expected_step=old, step=new,
                              step_started_at=utcnow(), **fields)


def _timeline(api: ApiHarness) -> dict[str, Any]:
    response = api.client.get("/api/campaigns/c1/timeline", headers=api.headers("viewer"))
    assert response.status_code == 200, response.json
    body = response.json
    assert isinstance(body, dict)
    return body


def test_timeline_of_a_running_then_finished_campaign(api: ApiHarness,
                                                       campaigns: CampaignStore) -> None:
    _walk(campaigns, "n1", ["precheck", "deliver", "monitor", "verify", "done"])
    _walk(campaigns, "n2", ["precheck", "deliver", "failed"], error="monitor: ApplyFailed")
    _walk(campaigns, "n4", ["precheck", "deliver"])
    running = _timeline(api)
    assert running["running"] is True and running["state"] == "running"
    nodes = {n["node_id"]: n for n in running["nodes"]}
    assert [n["node_id"] for n in running["nodes"]] == ["n1", "n2", "n4", "n3"]  # by wave
    assert (nodes["n1"]["canary"], nodes["n1"]["wave"]) == (True, 0)
    assert nodes["n2"]["wave"] == nodes["n4"]["wave"] == 1  # started together, overlapping
    assert nodes["n3"]["wave"] is None and nodes["n3"]["spans"] == []
    assert [s["step"] for s in nodes["n1"]["spans"]] == ["precheck", "deliver", "monitor",
                                                         "verify"]
    assert nodes["n1"]["outcome"] == "done" and nodes["n1"]["spans"][-1]["ended_at"]
    deliver = nodes["n2"]["spans"][1]
    assert deliver["failed"] and deliver["detail"] == "monitor: ApplyFailed"
    assert nodes["n2"]["spans"][-1] == {**nodes["n2"]["spans"][-1], "step": "failed",
                                        "ended_at": None}
    assert nodes["n4"]["spans"][-1]["ended_at"] is None  # still delivering
    groups = {g["group"]: g for g in running["groups"]}
    assert (groups["a"]["allowance"], groups["b"]["allowance"]) == (1, 1)  # b: its 1 member
    # Group a held n1 (canary), then n2 (failed, still being made safe); never both.
    assert groups["a"]["peak"] == 1 and groups["a"]["usage"][-1]["in_use"] == 1
    assert groups["b"]["peak"] == 1 and groups["b"]["usage"][-1]["in_use"] == 1

    assert campaigns.save_run("c1", "n2", owner="gw", expected_step="failed",
                              step="quarantined")
    for old, new in (("deliver", "verify"), ("verify", "done")):
        assert campaigns.save_run("c1", "n4", owner="gw", expected_step=old, step=new)
    campaigns.skip_pending("c1", "campaign aborted")
    assert campaigns.change_campaign_state("c1", "running", "aborted", finished=True)
    finished = _timeline(api)
    assert finished["running"] is False and finished["end"] >= finished["start"]
    outcomes = {n["node_id"]: n["outcome"] for n in finished["nodes"]}
    assert outcomes == {"n1": "done", "n2": "quarantined", "n3": "skipped", "n4": "done"}
    assert all(s["ended_at"] for n in finished["nodes"] for s in n["spans"])
    assert {g["group"]: g["usage"][-1]["in_use"] for g in finished["groups"]} == {
        "a": 0, "b": 0}

    # The same data, drawn: one bar per span, the failure marked, usage per group.
    svg = ET.fromstring(timeline_svg(finished))
    bars = svg.findall(f".//{SVG}rect[@class='span']")
    assert len(bars) == sum(len(n["spans"]) for n in finished["nodes"])
    failed_row = svg.find(f".//{SVG}g[@data-node='n2']")
    assert failed_row is not None and failed_row.get("data-outcome") == "quarantined"
    assert any("failed: monitor: ApplyFailed" in "".join(bar.itertext())
               for bar in failed_row.findall(f"{SVG}rect"))
    assert [g.get("data-group") for g in svg.findall(f".//{SVG}g[@class='usage']")] == [
        "a", "b"]
    page = api.client.get("/campaigns/c1", headers=api.headers("viewer"))
    assert page.status_code == 200
    assert page.text.count('class="span"') == len(bars)
    html = report_html(finished, [])
    assert html.startswith("<!DOCTYPE html>") and "http" not in html.replace(
        "http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere


def test_a_run_from_before_step_history_is_laid_out_from_its_timings(
        api: ApiHarness, campaigns: CampaignStore) -> None:
    now = utcnow()
    assert campaigns.save_run("c1", "n1", owner=None, expected_step="pending",
                              started_at=now - timedelta(seconds=30), finished_at=now,
                              timings={"precheck": 5.0, "deliver": 10.0, "verify": 15.0})
    node = next(n for n in _timeline(api)["nodes"] if n["node_id"] == "n1")
    assert node["approximate"] is True
    assert [s["step"] for s in node["spans"]] == ["precheck", "deliver", "verify"]
    assert node["spans"][-1]["ended_at"] == now.isoformat()


def test_unknown_or_malformed_campaign_ids(api: ApiHarness, campaigns: CampaignStore) -> None:
    missing = api.client.get("/api/campaigns/nope/timeline", headers=api.headers("viewer"))
    assert missing.status_code == 404 and "nope" in missing.json["error"]["message"]
    bad = api.client.get("/api/campaigns/a%20b/timeline", headers=api.headers("viewer"))
    assert bad.status_code in (400, 404) and "error" in bad.json
    assert api.client.get("/api/campaigns/c1/timeline").status_code == 401
