"""A real rollout (emulated BMCs, the real gateway) on a cluster whose jobs Slurm runs.

Drain mode: every node is drained in Slurm before its BMC is touched, flashed only once
its jobs finished, and resumed after; a node whose job outlives max_wait_s is resumed
and skipped; a node an operator drained is left alone (not updated, never resumed).
The emulator's audit log and Slurm's job completion log prove no job ran on a node
while it was updated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.orchestrator.manager_availability import MANAGER_NOTE
from lab import lab_slurm
from lab.lab_invariants import UPDATE_EVENTS
from lab.lab_slurm import SlurmRig
from lab.lab_slurm_proof import completed_jobs, jobs_during_updates
from tests.conftest import BundleFactory, TestKeys
from tests.integration.orchestrator.conftest import Rollout
from tests.integration.orchestrator.rig import TARGET_VERSIONS, wait_for
from tests.integration.slurm.conftest import SLURM_NAMES, slurm_rollout_rig


@pytest.fixture
def slurm_rollout(slurm: SlurmRig, tmp_path: Path, test_keys: TestKeys,
                  bundle_factory: BundleFactory) -> Iterator[Rollout]:
    yield from _rollout(slurm.conf, tmp_path, test_keys, bundle_factory)


def _rollout(slurm_conf: Path, tmp_path: Path, test_keys: TestKeys,
             bundle_factory: BundleFactory, extra: str = "") -> Iterator[Rollout]:
    return slurm_rollout_rig(slurm_conf, tmp_path, test_keys, bundle_factory,
                             f'mode = "drain"\nmax_wait_s = 3\n{extra}')


def test_drain_mode_waits_for_jobs_skips_a_stuck_node_and_leaves_an_operator_drain(
        slurm: SlurmRig, slurm_rollout: Rollout) -> None:
    short = [slurm.sbatch("n1", 3), slurm.sbatch("n2", 3)]
    stuck = slurm.sbatch("n3", 600)
    slurm.run("scontrol", "update", "nodename=n4", "state=drain", "reason=bad DIMM")
    assert wait_for(lambda: all(slurm.job_states()[j] == "RUNNING" for j in
                                (*short, stuck)), 30)
    slurm_rollout.announce()
    campaign = slurm_rollout.campaign_id()
    service = slurm_rollout.service

    def steps() -> dict[str, str]:
        return {run.node_id: run.step for run in service.show(campaign).runs}

    assert wait_for(lambda: steps()["bmc-0000"] == "done" and steps()["bmc-0001"] == "done"
                    and steps()["bmc-0002"] == "skipped", 120), steps()
    runs = {run.node_id: run for run in service.show(campaign).runs}
    assert f"jobs {stuck} still running on n3 after max_wait_s 3 s: resumed and skipped" in (
        runs["bmc-0002"].error or "")
    # The operator's drain: never started, still drained with their reason.
    assert steps()["bmc-0003"] == "pending"
    assert slurm.node_states()["n4"] == ("idle", ("DRAIN",))
    assert "bad DIMM" in slurm.run("sinfo", "-R", "-o", "%30E %N").stdout
    # What the gateway drained it resumed; the stuck job still runs.
    # (Slurm pings a resumed node: NOT_RESPONDING until it answers.)
    assert wait_for(lambda: [slurm.node_states()[n] for n in ("n1", "n2", "n3")] == [
        ("idle", ()), ("idle", ()), ("allocated", ())], 30), slurm.node_states()
    assert slurm.job_states()[stuck] == "RUNNING"
    assert [slurm.job_states()[j] for j in short] == ["COMPLETED", "COMPLETED"]
    for bmc in ("bmc-0000", "bmc-0001"):
        assert runs[bmc].after_versions == TARGET_VERSIONS
    audit = slurm_rollout.audit()
    flashed = {r["bmc"] for r in audit if r["event"] == "flash_start"}
    assert flashed == {"bmc-0000", "bmc-0001"}
    jobs = completed_jobs((slurm.root / "log" / "jobcomp.txt").read_text())
    assert {j.job_id for j in jobs} >= set(short)
    assert jobs_during_updates(audit, jobs, SLURM_NAMES) == []


def test_no_node_starts_while_slurmctld_does_not_answer(
        tmp_path: Path, test_keys: TestKeys, bundle_factory: BundleFactory) -> None:
    # A cluster whose slurm.conf names a controller that is not running.
    conf = lab_slurm.write_config(tmp_path / "slurm", list(SLURM_NAMES.values()))
    rollouts = _rollout(conf, tmp_path, test_keys, bundle_factory)
    rollout = next(rollouts)
    try:
        rollout.announce()
        campaign = rollout.campaign_id()
        scheduler = rollout.orchestrator.scheduler
        assert wait_for(lambda: "lab" in scheduler.manager_view.problem, 60)
        assert "sinfo --json reported an error (is slurmctld running?)" in (
            scheduler.manager_view.problem["lab"])
        # Shown with every waiting node (the API's campaign and node views).
        assert wait_for(lambda: all(
            (run.error or "").startswith(f"{MANAGER_NOTE}: sinfo --json reported an error")
            for run in rollout.service.show(campaign).runs), 30)
        assert rollout.service.show(campaign).campaign.state == "running"
        assert {run.step for run in rollout.service.show(campaign).runs} == {"pending"}
        assert not [r for r in rollout.audit() if r["event"] in UPDATE_EVENTS]
    finally:
        rollouts.close()
        lab_slurm.remove_spool(conf)


def test_on_timeout_cancel_cancels_the_jobs_of_a_node_that_does_not_drain(
        slurm: SlurmRig, tmp_path: Path, test_keys: TestKeys,
        bundle_factory: BundleFactory) -> None:
    stuck = slurm.sbatch("n1", 600)
    assert wait_for(lambda: slurm.job_states()[stuck] == "RUNNING", 30)
    rollouts = _rollout(slurm.conf, tmp_path, test_keys, bundle_factory,
                        'on_timeout = "cancel"\n')
    rollout = next(rollouts)
    try:
        rollout.announce()
        campaign = rollout.campaign_id()
        rollout.wait_state(campaign, "completed", timeout=120)
        runs = {run.node_id: run for run in rollout.service.show(campaign).runs}
        assert {run.step for run in runs.values()} == {"done"}
        assert runs["bmc-0000"].after_versions == TARGET_VERSIONS
        assert slurm.job_states()[stuck] == "CANCELLED"
        jobs = completed_jobs((slurm.root / "log" / "jobcomp.txt").read_text())
        assert stuck in {j.job_id for j in jobs}
        assert jobs_during_updates(rollout.audit(), jobs, SLURM_NAMES) == []
    finally:
        rollouts.close()


def test_a_node_in_flight_finishes_while_slurmctld_is_down_and_is_resumed_after(
        slurm: SlurmRig, tmp_path: Path, test_keys: TestKeys,
        bundle_factory: BundleFactory) -> None:
    rollouts = slurm_rollout_rig(slurm.conf, tmp_path, test_keys, bundle_factory,
                                 'mode = "drain"\nmax_wait_s = 3', flash_seconds=4.0)
    rollout = next(rollouts)
    stopped = False
    try:
        rollout.announce()
        campaign = rollout.campaign_id()
        service = rollout.service

        def runs() -> dict[str, tuple[str, str]]:
            return {r.node_id: (r.step, r.error or "") for r in service.show(campaign).runs}

        assert wait_for(lambda: runs()["bmc-0000"][0] in ("deliver", "monitor"), 60), runs()
        lab_slurm.stop_controller(slurm)
        stopped = True
        # The canary's update finishes; its resume waits for Slurm, nothing else starts,
        # and every waiting node says why.
        assert wait_for(lambda: runs()["bmc-0000"][0] == "undrain" and all(
            MANAGER_NOTE in runs()[n][1] for n in ("bmc-0001", "bmc-0002", "bmc-0003")),
            90), runs()
        assert "sinfo --json reported an error (is slurmctld running?)" in (
            runs()["bmc-0001"][1])
        assert {r["bmc"] for r in rollout.audit() if r["event"] in UPDATE_EVENTS} == {
            "bmc-0000"}
        assert {runs()[n][0] for n in ("bmc-0001", "bmc-0002", "bmc-0003")} == {"pending"}
        lab_slurm.start_controller(slurm)
        stopped = False
        rollout.wait_state(campaign, "completed", timeout=180)
        assert {step for step, _error in runs().values()} == {"done"}
        assert not [e for _step, e in runs().values() if MANAGER_NOTE in e]
        assert wait_for(lambda: all(s == ("idle", ()) for s in slurm.node_states().values()),
                        30), slurm.node_states()
    finally:
        if stopped:
            lab_slurm.start_controller(slurm)
        rollouts.close()
