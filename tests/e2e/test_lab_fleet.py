"""`fleetflash lab up --gateways 2 --database postgresql`: the lab's own PostgreSQL, two
gateways sharing it, a whole rollout split between them, and `lab down` stopping all."""

from __future__ import annotations

import shutil
from pathlib import Path

import requests

from gateway.config import load_config
from gateway.media.config import media_config
from lab import lab_processes
from lab.lab_invariants import check_rollout
from lab.runner import marker
from tests.e2e.conftest import FIXTURES, LabFactory, fleetflash
from tests.support.waiting import wait_until


def test_two_lab_gateways_on_postgresql_share_one_rollout(lab_up: LabFactory) -> None:
    lab = lab_up(FIXTURES / "fleet-two-gateways.yaml", "--gateways", "2",
                 "--database", "postgresql")
    state = lab.state
    gateways = state.get("gateways")
    assert [g["name"] for g in gateways] == ["lab-fleet2", "lab-fleet2-2"]
    assert state.get("gateway.pid") == gateways[0]["pid"]  # existing tools read gateway.*
    assert state.get("database.kind") == "postgresql"
    assert "postgresql+psycopg://" in state.get("database.url")
    # One media secret: each gateway proves the others' capability URLs its fleet's own.
    assert len({media_config(load_config(Path(g["config"]))).secret_file
                for g in gateways}) == 1

    # Either gateway's API shows the whole fleet, with the lab's one token.
    second = requests.get(gateways[1]["api_url"] + "/api/gateways", timeout=10,
                          headers={"Authorization": f"Bearer {state.api_token}"})
    assert second.status_code == 200, second.text
    assert {(g["name"], g["alive"], g["api_url"]) for g in second.json()["items"]} == {
        (g["name"], True, g["api_url"]) for g in gateways}  # where to reach each one

    published = fleetflash("lab", "publish", "--state-file", str(lab.state_file))
    assert published.returncode == 0, published.stderr
    wait_until(lambda: any(c["state"] == "completed" for c in lab.campaigns().values()),
               240, describe=lab.campaigns)
    steps = lab.steps()
    assert set(steps.values()) == {"done"} and len(steps) == 8

    # Both gateways drove nodes (each logs its own step transitions).
    logs = state.workdir / "logs"
    for name in ("gateway", "gateway-2"):
        assert "-> done" in (logs / f"{name}.log").read_text(), name
    checks = check_rollout(lab.audit(), node_of_bmc=state.node_of_bmc,
                           group_of_node={n: n.rsplit("-", 1)[0] for n in steps},
                           allowance={"fl-r1": 2, "fl-r2": 2}, final_steps=steps)
    assert all(check.ok for check in checks), checks

    pids = state.pids()
    assert {"gateway", "gateway-2", "postgres"} <= set(pids)
    down = fleetflash("lab", "down", "--state-file", str(lab.state_file))
    assert down.returncode == 0, down.stderr
    assert not any(lab_processes.running(pid, marker(name)) for name, pid in pids.items())
    shutil.rmtree(state.get("database.dir"))  # `lab down` keeps it, like the workdir


def test_several_gateways_need_postgresql(lab_up: LabFactory) -> None:
    result = fleetflash("lab", "up", str(FIXTURES / "fleet-two-gateways.yaml"),
                        "--gateways", "2", "--state-file", "/nonexistent/state.json")
    assert result.returncode == 1
    assert "several gateways share one database: use --database postgresql" in result.stderr
