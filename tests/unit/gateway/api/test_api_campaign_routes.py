"""Campaign and node actions, table-driven over states: legal ones answer 200 with the new
state, illegal ones 409 naming the state, unknown ids 404. Runs on the real orchestrator
service and store (campaigns written as the campaign creator writes them), no BMCs needed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.gateway.api.conftest import BACKENDS, ApiHarness, CampaignMaker

# The API end to end on both backends: PostgreSQL is a first-class store.
pytestmark = pytest.mark.parametrize("api", BACKENDS, indirect=True)


def _post(api: ApiHarness, path: str, body: dict[str, Any] | None = None) -> Any:
    return api.client.post(path, json=body or {}, headers=api.headers("operator"))


@pytest.mark.parametrize(("action", "state", "status", "after"), [
    ("approve", "pending_approval", 200, "running"),
    ("approve", "running", 409, "running"),
    ("approve", "completed", 409, "completed"),
    ("pause", "running", 200, "paused"),
    ("pause", "paused", 409, "paused"),
    ("pause", "pending_approval", 409, "pending_approval"),
    ("pause", "paused_budget", 200, "paused"),
    ("resume", "paused", 200, "running"),
    ("resume", "running", 409, "running"),
    ("resume", "aborted", 409, "aborted"),
    ("abort", "running", 200, "aborted"),
    ("abort", "pending_approval", 200, "aborted"),
    ("abort", "failed", 409, "failed"),
    ("abort", "completed", 409, "completed"),
])
def test_campaign_actions(api: ApiHarness, make_campaign: CampaignMaker, action: str,
                          state: str, status: int, after: str) -> None:
    campaign_id = make_campaign(state)
    response = _post(api, f"/api/campaigns/{campaign_id}/{action}", {"reason": "table"})
    assert response.status_code == status, response.json
    if status == 409:
        assert state in response.json["error"]["message"]
        assert response.json["error"]["code"] == "illegal_transition"
    else:
        assert response.json["state"] == after
    shown = api.client.get(f"/api/campaigns/{campaign_id}", headers=api.headers("viewer"))
    assert shown.json["state"] == after


@pytest.mark.parametrize(("action", "node", "n3_step", "status", "step_after"), [
    ("retry", "n3", "quarantined", 200, "pending"),
    ("clear", "n3", "quarantined", 200, "skipped"),
    ("retry", "n2", "quarantined", 409, "pending"),
    ("clear", "n2", "quarantined", 200, "skipped"),  # a pending node is no longer waited for
    ("clear", "n1", "quarantined", 409, "done"),
    ("retry", "n1", "quarantined", 409, "done"),
    ("retry", "n3", "monitor", 409, "monitor"),
    ("clear", "n3", "monitor", 409, "monitor"),
])
def test_node_actions(api: ApiHarness, make_campaign: CampaignMaker, action: str, node: str,
                      n3_step: str, status: int, step_after: str) -> None:
    campaign_id = make_campaign("running", n3_step=n3_step)
    response = _post(api, f"/api/campaigns/{campaign_id}/nodes/{node}/{action}")
    assert response.status_code == status, response.json
    if status == 200:
        assert response.json["step"] == step_after
    detail = api.client.get(f"/api/campaigns/{campaign_id}", headers=api.headers("viewer")).json
    steps = {n["node_id"]: n["step"] for wave in detail["waves"] for n in wave["nodes"]}
    assert steps[node] == step_after


def test_retry_in_a_finished_campaign_conflicts(api: ApiHarness,
                                                make_campaign: CampaignMaker) -> None:
    campaign_id = make_campaign("aborted")
    response = _post(api, f"/api/campaigns/{campaign_id}/nodes/n3/retry")
    assert response.status_code == 409 and "aborted" in response.json["error"]["message"]


def test_unknown_campaigns_and_nodes_are_404(api: ApiHarness,
                                             make_campaign: CampaignMaker) -> None:
    campaign_id = make_campaign("running")
    for path in ("/api/campaigns/nope/pause", "/api/campaigns/nope/nodes/n1/retry",
                 f"/api/campaigns/{campaign_id}/nodes/zz/clear"):
        assert _post(api, path).status_code == 404, path
    for path in ("/api/campaigns/nope", "/api/reports/campaigns/nope", "/api/nodes/zz",
                 "/api/clusters/nope", "/campaigns/nope"):
        assert api.client.get(path, headers=api.headers("viewer")).status_code == 404, path


def test_lists_reports_and_pages_show_the_campaign(api: ApiHarness,
                                                  make_campaign: CampaignMaker) -> None:
    campaign_id = make_campaign("running")
    viewer = api.headers("viewer")
    listed = api.client.get("/api/campaigns?state=running", headers=viewer).json
    assert [c["id"] for c in listed["items"]] == [campaign_id]
    assert listed["items"][0]["counts"] == {"done": 1, "pending": 1, "quarantined": 1}
    detail = api.client.get(f"/api/campaigns/{campaign_id}", headers=viewer).json
    assert detail["waves"][0]["canary"] and detail["waves"][0]["nodes"][0]["progress"] == 100
    failed = [n for w in detail["waves"] for n in w["nodes"] if n["step"] == "quarantined"]
    assert failed[0]["error"] == "monitor timed out after 30 s"
    report = api.client.get(f"/api/reports/campaigns/{campaign_id}", headers=viewer).json
    assert {r["node_id"]: r["outcome"] for r in report["items"]} == {
        "n1": "done", "n2": "pending", "n3": "quarantined"}
    page = api.client.get(f"/campaigns/{campaign_id}", headers=viewer)
    assert page.status_code == 200 and b"monitor timed out after 30 s" in page.data
    assert b"Retry n3" not in page.data  # a viewer gets no buttons
    operator_page = api.client.get(f"/campaigns/{campaign_id}", headers=api.headers("operator"))
    assert b"Retry n3" in operator_page.data and b"Clear n3" in operator_page.data
    clusters = api.client.get("/api/clusters", headers=viewer).json["items"]
    assert clusters[0]["groups"][0]["allowance"] == 1
    assert api.client.get("/", headers=viewer).status_code == 200
    assert api.client.get("/compliance", headers=viewer).status_code == 200
