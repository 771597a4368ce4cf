"""BMCs put in the registry while the gateway runs join its running fleet, without a
restart: by POST /api/bmcs:import (at once, listed in `joined`) and by `fleetflash bmcs
import` from another process on the same database (within the registry poll). The
joined nodes are then updated by a campaign like any configured node, versions read
back. A removal waits for the next start, and says so."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import requests

from tests.conftest import REPO_ROOT
from tests.integration.api.conftest import LiveFactory, LiveGateway, group_of
from tests.integration.orchestrator.rig import TARGET_VERSIONS, wait_for


def _call(live: LiveGateway, role: str, method: str, path: str,
          body: dict[str, Any] | None = None) -> requests.Response:
    return requests.request(method, live.url + path, json=body, timeout=30,
                            headers={"Authorization": f"Bearer {live.tokens[role]}"})


def _csv_row(live: LiveGateway, index: int) -> str:
    bmc = live.emulated.inventory[index]
    secret = live.gateway.config.path.parent / f"pw-{bmc['id']}"
    secret.write_text(bmc["password"])
    return (f"{bmc['id']},lab,{group_of(bmc['id'])},{bmc['url']},{bmc['username']},"
            f"{secret}\n")


def _bmc_ids(live: LiveGateway) -> set[str]:
    return {item["id"] for item in _call(live, "admin", "GET", "/api/bmcs").json()["items"]}


def test_imported_bmcs_join_the_running_fleet_and_are_updated(
        live_gateway: LiveFactory) -> None:
    live = live_gateway(nodes=4, configured=2, flash_seconds=0.1,
                        cluster={"autonomy": "auto_approve"})
    header = "name,cluster,group,url,username,password_file\n"
    third, fourth = (live.emulated.inventory[i]["id"] for i in (2, 3))

    imported = _call(live, "admin", "POST", "/api/bmcs:import", {
        "format": "csv", "content": header + _csv_row(live, 2), "filename": "api.csv"})
    assert imported.status_code == 200, imported.text
    assert imported.json()["joined"] == [third]
    assert third in _bmc_ids(live)

    # Another process writes the registry: the running gateway notices by itself.
    inventory = live.gateway.config.path.parent / "cli.csv"
    inventory.write_text(header + _csv_row(live, 3))
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bmcs", "import", str(inventory), "--config",
         str(live.gateway.config.path)], cwd=REPO_ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert wait_for(lambda: fourth in _bmc_ids(live), 30), _bmc_ids(live)
    groups = {g["name"]: set(g["nodes"]) for g in
              _call(live, "viewer", "GET", "/api/clusters/lab").json()["groups"]}
    assert third in groups[group_of(third)] and fourth in groups[group_of(fourth)]

    # The joined nodes are updated like the configured ones, versions read back.
    raised = _call(live, "operator", "POST", "/api/alerts", {
        "source": "acme", "image_uri": live.image_uri, "sha256": live.sha256,
        "bundle_id": "test-bundle", "release": "test"})
    assert raised.status_code == 201, raised.text
    assert wait_for(lambda: _call(live, "viewer", "GET", "/api/campaigns").json()["total"]
                    == 1, 90)
    campaign = _call(live, "viewer", "GET", "/api/campaigns").json()["items"][0]["id"]
    assert wait_for(lambda: _call(live, "viewer", "GET", f"/api/campaigns/{campaign}")
                    .json()["state"] == "completed", 180)
    for node in (third, fourth):
        assert live.emulated.bmc(node).firmware.installed() == TARGET_VERSIONS, node
        shown = _call(live, "viewer", "GET", f"/api/nodes/{node}").json()
        assert shown["step"] == "done" and shown["versions"] == TARGET_VERSIONS, shown

    # A removal is kept for the next start (runs may still name the node), and the
    # gateway says so once rather than dropping a node under a campaign.
    removed = subprocess.run(
        [sys.executable, "-m", "lab.cli", "bmcs", "remove", fourth, "--config",
         str(live.gateway.config.path)], cwd=REPO_ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=120)
    assert removed.returncode == 0, removed.stderr
    assert "next start" in removed.stderr + removed.stdout
    assert live.gateway.orchestration is not None
    assert live.gateway.orchestration.orchestrator.sync_registry() == []
    assert fourth in _bmc_ids(live)
