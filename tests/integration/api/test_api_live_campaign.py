"""The API against a whole running gateway: an operator raises the update alert over REST,
approves, pauses and resumes the campaign, the CLI watches it finish, and the reports,
node list, audit log and /metrics show what happened."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from gateway.domain import NodeStep
from lab.cli import main
from tests.integration.api.conftest import LiveFactory, LiveGateway
from tests.integration.orchestrator.rig import TARGET_VERSIONS, TEST_MODEL
from tests.support.waiting import wait_until


def _get(live: LiveGateway, path: str, role: str = "viewer") -> requests.Response:
    return requests.get(live.url + path, timeout=10,
                        headers={"Authorization": f"Bearer {live.tokens[role]}"})


def _post(live: LiveGateway, path: str, body: dict[str, object] | None = None,
          role: str = "operator") -> requests.Response:
    return requests.post(live.url + path, json=body or {}, timeout=10,
                         headers={"Authorization": f"Bearer {live.tokens[role]}"})


def _started(live: LiveGateway, campaign_id: str) -> set[str]:
    detail = _get(live, f"/api/campaigns/{campaign_id}").json()
    return {n["node_id"] for w in detail["waves"] for n in w["nodes"] if n["step"] != "pending"}


def _scheduler_passes(live: LiveGateway) -> Callable[[], int]:
    """How many scheduler passes (decisions over every open campaign) have finished since
    this call: the real scheduler runs, the test only counts its passes."""
    assert live.gateway.orchestration is not None
    scheduler = live.gateway.orchestration.orchestrator.scheduler
    decide = scheduler.tick
    finished = [0]

    def counted(now: datetime) -> list[str]:
        try:
            return decide(now)
        finally:
            finished[0] += 1

    scheduler.tick = counted  # type: ignore[method-assign]
    return lambda: finished[0]


def test_operator_drives_a_campaign_through_the_api(live_gateway: LiveFactory) -> None:
    live = live_gateway(nodes=4, flash_seconds=0.6)
    raised = _post(live, "/api/alerts", {
        "source": "acme", "image_uri": live.image_uri, "sha256": live.sha256,
        "bundle_id": "test-bundle", "release": "test"})
    assert raised.status_code == 201, raised.text
    assert raised.json()["decision"] == "accepted"

    wait_until(lambda: _get(live, "/api/campaigns").json()["total"] == 1, 90)
    campaign = _get(live, "/api/campaigns").json()["items"][0]
    campaign_id = campaign["id"]
    assert campaign["state"] == "pending_approval"
    # Illegal in this state: 409 with the state named; nothing changes.
    refused = _post(live, f"/api/campaigns/{campaign_id}/resume")
    assert refused.status_code == 409
    assert "pending_approval" in refused.json()["error"]["message"]
    assert _post(live, f"/api/campaigns/{campaign_id}/approve", role="viewer").status_code == 403

    assert _post(live, f"/api/campaigns/{campaign_id}/approve").json()["state"] == "running"
    paused = _post(live, f"/api/campaigns/{campaign_id}/pause", {"reason": "change freeze"})
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert _post(live, f"/api/campaigns/{campaign_id}/pause").status_code == 409
    started = _started(live, campaign_id)
    # Three scheduler passes after the pause: each was a chance to start nodes.
    passes = _scheduler_passes(live)
    seen = passes()
    wait_until(lambda: passes() >= seen + 3, 30)
    detail = _get(live, f"/api/campaigns/{campaign_id}").json()
    assert detail["state"] == "paused"
    assert _started(live, campaign_id) <= started  # a paused campaign starts nothing new
    assert _post(live, f"/api/campaigns/{campaign_id}/resume").json()["state"] == "running"

    runner = CliRunner()
    watched = runner.invoke(main, ["campaigns", "watch", campaign_id, "--interval", "0.2",
                                   "--api-url", live.url],
                            env={"FLEETFLASH_TOKEN": live.tokens["viewer"]})
    assert watched.exit_code == 0, watched.output
    assert f"campaign {campaign_id} ended: completed" in watched.output
    assert "canary" in watched.output

    detail = _get(live, f"/api/campaigns/{campaign_id}").json()
    assert detail["counts"] == {"done": 4}
    waves = detail["waves"]
    assert waves[0]["canary"] is True and len(waves[0]["nodes"]) == 1
    assert sorted(n["node_id"] for w in waves for n in w["nodes"]) == [
        f"bmc-{i:04d}" for i in range(4)]
    assert all(n["progress"] == 100 for w in waves for n in w["nodes"])

    report = _get(live, f"/api/reports/campaigns/{campaign_id}").json()["items"]
    assert {r["outcome"] for r in report} == {"done"}
    assert all(r["versions_after"] == TARGET_VERSIONS for r in report)
    compliance = _get(live, "/api/reports/compliance").json()["items"]
    assert sorted(r["node_id"] for r in compliance) == [f"bmc-{i:04d}" for i in range(4)]
    assert {r["release"] for r in compliance} == {"test"}
    nodes = _get(live, "/api/nodes?cluster=lab").json()
    assert nodes["total"] == 4 and all(n["step"] == "done" for n in nodes["items"])
    assert all(n["versions"] == TARGET_VERSIONS for n in nodes["items"])
    assert all(n["model"] == TEST_MODEL and n["health"] == "up" for n in nodes["items"])
    assert all(n["versions_source"] == "FirmwareInventory" and n["system"] is None
               for n in nodes["items"])

    audit = _get(live, "/api/audit", role="operator").json()["items"]
    actions = [(e["actor"], e["action"], e["outcome"]) for e in reversed(audit)]
    assert actions == [
        ("operator-1", "alert.raise", "ok"), ("operator-1", "campaign.resume", "refused"),
        ("operator-1", "campaign.approve", "ok"), ("operator-1", "campaign.pause", "ok"),
        ("operator-1", "campaign.pause", "refused"), ("operator-1", "campaign.resume", "ok")]
    assert audit[-4]["detail"] == "change freeze"

    for action in ("approve", "pause", "resume", "abort"):
        late = _post(live, f"/api/campaigns/{campaign_id}/{action}")
        assert late.status_code == 409, action
    retry = _post(live, f"/api/campaigns/{campaign_id}/nodes/bmc-0000/retry")
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "illegal_transition"
    assert _post(live, f"/api/campaigns/{campaign_id}/nodes/bmc-9999/clear").status_code == 404

    metrics = {f.name: f for f in text_string_to_metric_families(_get(live, "/metrics").text)}
    alerts = {s.labels["decision"]: s.value for s in metrics["fleetflash_alerts"].samples
              if s.name == "fleetflash_alerts_total"}
    assert alerts["accepted"] == 1
    images = {s.labels["state"]: s.value for s in metrics["fleetflash_images"].samples}
    assert images["verified"] == 1
    campaigns = {s.labels["state"]: s.value for s in metrics["fleetflash_campaigns"].samples}
    # Every campaign state is a series, so an alert on a rare one has something to match.
    assert campaigns == {"pending_approval": 0, "running": 0, "paused": 0, "paused_budget": 0,
                         "completed": 1, "completed_with_exclusions": 0, "aborted": 0,
                         "failed": 0}
    nodes_by_state = {s.labels["state"]: s.value for s in metrics["fleetflash_nodes"].samples}
    # Every node step too (gateway.domain.NodeStep), at 0 when no node is in it.
    assert set(nodes_by_state) == {step.value for step in NodeStep}
    assert {step: n for step, n in nodes_by_state.items() if n} == {"done": 4}
    served = metrics["fleetflash_media_served_bytes"].samples[0].value
    assert served >= live.bundle.stat().st_size  # MSC: each BMC read at least its payload
    # A gateway alone acquired the image from its origin: it read nothing from peers.
    assert metrics["fleetflash_peer_image_bytes"].samples[0].value == 0
    steps = metrics["fleetflash_node_step_duration_seconds"].samples
    counts = {s.labels["step"]: s.value for s in steps
              if s.name.endswith("_count") and s.labels["method"] == "msc"}
    assert counts["deliver"] == 4 and counts["verify"] == 4
