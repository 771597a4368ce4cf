"""Admin registers a BMC through the API; an operator starts the campaign by hand; the new
node is updated with the rest. Passwords go in and never come out."""

from __future__ import annotations

from typing import Any

import requests

from tests.integration.api.conftest import LiveFactory, LiveGateway
from tests.integration.orchestrator.rig import TARGET_VERSIONS
from tests.support.waiting import wait_until


def _call(live: LiveGateway, method: str, path: str, role: str,
          body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(method, live.url + path, json=body, timeout=30,
                            headers={"Authorization": f"Bearer {live.tokens[role]}"})


def test_registered_bmc_joins_a_hand_started_campaign(live_gateway: LiveFactory) -> None:
    live = live_gateway(nodes=3, configured=2, flash_seconds=0.2,
                        cluster={"autonomy": "auto_approve"},
                        orchestrator={"auto_campaigns": False})
    extra = live.emulated.inventory[2]
    registration = {"id": extra["id"], "url": extra["url"], "username": extra["username"],
                    "password": extra["password"], "cluster": "lab", "group": "even"}

    assert _call(live, "POST", "/api/bmcs", "operator", registration).status_code == 403
    cases = [({"cluster": "nowhere"}, 404, None), ({"group": "nowhere"}, 400, None),
             ({"tls": "maybe"}, 400, "tls"), ({"url": "ftp://x"}, 400, "url"),
             ({"password": ""}, 400, "password")]
    for change, status, field in cases:
        refused = _call(live, "POST", "/api/bmcs", "admin", registration | change)
        assert refused.status_code == status, (change, refused.text)
        assert refused.json()["error"].get("field") == field, change
        assert extra["password"] not in refused.text
    created = _call(live, "POST", "/api/bmcs", "admin", registration)
    assert created.status_code == 201, created.text
    assert created.json() == {"id": extra["id"], "url": extra["url"],
                              "username": extra["username"], "credentials_set": True,
                              "tls": "verify", "cluster": "lab", "group": "even",
                              "qos": "default", "system": None}
    # The same BMC (and system) under another name would be updated twice at once.
    for duplicate in ({"id": "again"}, {"id": "again", "url": extra["url"] + "/redfish/v1/"}):
        refused = _call(live, "POST", "/api/bmcs", "admin", registration | duplicate)
        assert refused.status_code == 409, refused.text
        assert f"already registered as node {extra['id']!r}" in refused.json()["error"][
            "message"]
    listed = _call(live, "GET", "/api/bmcs", "admin").json()
    assert listed["total"] == 3 and extra["password"] not in repr(listed)
    cluster = _call(live, "GET", "/api/clusters/lab", "viewer").json()
    even = next(g for g in cluster["groups"] if g["name"] == "even")
    assert extra["id"] in even["nodes"]

    raised = _call(live, "POST", "/api/alerts", "operator", {
        "source": "acme", "image_uri": live.image_uri, "sha256": live.sha256,
        "bundle_id": "test-bundle", "release": "test"})
    assert raised.status_code == 201
    start = {"image_sha256": live.sha256, "cluster": "lab"}
    wait_until(lambda: _call(live, "GET", f"/api/images/{live.sha256}", "viewer"
                             ).json()["state"] == "verified", 90)
    assert _call(live, "GET", "/api/campaigns", "viewer").json()["total"] == 0
    assert _call(live, "POST", "/api/campaigns", "operator",
                 start | {"cluster": "nowhere"}).status_code == 404
    campaign = _call(live, "POST", "/api/campaigns", "operator", start)
    assert campaign.status_code == 201, campaign.text
    campaign_id = campaign.json()["id"]
    again = _call(live, "POST", "/api/campaigns", "operator", start)
    assert again.status_code == 409 and "already has an open campaign" in again.text

    wait_until(lambda: _call(live, "GET", f"/api/campaigns/{campaign_id}", "viewer"
                             ).json()["state"] == "completed", 120)
    report = _call(live, "GET", f"/api/reports/campaigns/{campaign_id}", "viewer").json()
    outcomes = {r["node_id"]: (r["outcome"], r["versions_after"]) for r in report["items"]}
    assert outcomes[extra["id"]] == ("done", TARGET_VERSIONS)
    assert len(outcomes) == 3
