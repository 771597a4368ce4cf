"""Failures beyond the budget pause the campaign (fixtures/failure-budget.yaml); the
gateway is then killed and restarted by hand from the state file's `gateway.config`,
picks the lab back up, and operators finish the rollout through the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lab import lab_processes
from lab.lab_invariants import check_rollout
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import FIXTURES, LAB_POLL_S, LAB_WAIT_S, LabFactory, RunningLab, fleetflash
from tests.support.waiting import wait_until

FAULTY = {"fb-g1-1", "fb-g2-1", "fb-g3-1"}
ACTIVE = {"precheck", "drain", "deliver", "monitor", "reset", "wait_back", "verify", "eject",
          "postcheck", "undrain", "failed"}


def _invariants_hold(lab: RunningLab) -> None:
    steps = lab.steps()
    checks = check_rollout(lab.audit(), node_of_bmc=lab.state.node_of_bmc,
                           group_of_node={n: n.rsplit("-", 1)[0] for n in steps},
                           allowance={f"fb-g{i}": 1 for i in range(4)})
    assert all(check.ok for check in checks), checks


def _restart_gateway(lab: RunningLab, tmp_path: Path) -> subprocess.Popen[bytes]:
    """What an operator does: `fleetflash gateway serve --config <gateway.config>`."""
    with open(tmp_path / "gateway-restarted.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "gateway", "serve", "--config",
             lab.state.get("gateway.config")], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_lab_failure_budget_pauses_and_a_restarted_gateway_picks_the_lab_back_up(
        lab_up: LabFactory, tmp_path: Path) -> None:
    lab = lab_up(FIXTURES / "failure-budget.yaml")
    assert fleetflash("lab", "publish", "--state-file", str(lab.state_file)).returncode == 0
    wait_until(lambda: any(c["state"] == "paused_budget"
                           for c in lab.campaigns().values()),
               LAB_WAIT_S, interval_s=LAB_POLL_S)
    wait_until(lambda: not ACTIVE & set(lab.steps().values()), LAB_WAIT_S,
               interval_s=LAB_POLL_S)
    (campaign_id,) = lab.campaigns()
    steps = lab.steps()
    quarantined = {n for n, s in steps.items() if s == "quarantined"}
    assert len(quarantined) >= 2 and quarantined <= FAULTY  # more than the budget of 1
    never_started = {n for n, s in steps.items() if s == "pending"}
    assert never_started, steps
    touched = {lab.state.node_of_bmc[r["bmc"]] for r in lab.audit() if r["event"] != "power"}
    assert not touched & never_started
    _invariants_hold(lab)

    # Kill the gateway outright, then restart it by hand from the state file.
    os.kill(lab.state.get("gateway.pid"), signal.SIGKILL)
    wait_until(lambda: not lab_processes.answers(lab.state.api_url + "/healthz"), 30)
    restarted = _restart_gateway(lab, tmp_path)
    try:
        wait_until(lambda: lab_processes.answers(lab.state.api_url + "/healthz"), 60)
        status = fleetflash("lab", "status", "--state-file", str(lab.state_file))
        assert status.returncode == 0 and "restarted by hand" in status.stdout
        assert lab.campaigns()[campaign_id]["state"] == "paused_budget"

        # Operators give up on the failed nodes and resume, with the state file's token.
        env_args = ["--api-url", lab.state.api_url]
        os.environ["FLEETFLASH_TOKEN"] = lab.state.api_token
        try:
            refused = fleetflash("campaigns", "resume", campaign_id, *env_args)
            assert refused.returncode == 1 and "409" in refused.stdout + refused.stderr
            for node in sorted(quarantined):
                cleared = fleetflash("nodes", "clear", campaign_id, node, *env_args)
                assert cleared.returncode == 0, cleared.stdout + cleared.stderr
            resumed = fleetflash("campaigns", "resume", campaign_id, *env_args)
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        finally:
            del os.environ["FLEETFLASH_TOKEN"]
        wait_until(lambda: lab.campaigns()[campaign_id]["state"] in
                   ("completed", "paused_budget", "failed"),
                   LAB_WAIT_S, interval_s=LAB_POLL_S)
        steps = lab.steps()
        healthy = set(steps) - FAULTY
        assert lab.campaigns()[campaign_id]["state"] == "completed", steps
        assert {steps[n] for n in healthy} == {"done"}
        _invariants_hold(lab)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(30)
