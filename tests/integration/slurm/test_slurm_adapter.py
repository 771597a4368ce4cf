"""The Slurm adapter against real slurmctld/slurmd daemons on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.cluster_managers import (
    ManagerUnreachableError,
    NodeCondition,
    ReservationRefusedError,
    SlurmManager,
    UnexpectedOutputError,
    drain_reason,
)
from lab import lab_slurm
from lab.lab_slurm import SlurmRig


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def running(slurm: SlurmRig, node: str, seconds: float) -> int:
    job = slurm.sbatch(node, seconds)
    wait_for(lambda: slurm.job_states().get(job) == "RUNNING", f"job {job} to run")
    return job


def test_drain_with_a_running_job_is_draining_then_drained_when_the_job_ends(
        slurm: SlurmRig) -> None:
    manager = SlurmManager(slurm.conf)
    job = running(slurm, "n1", 4)
    manager.drain(["n1"], drain_reason("c-17"))
    status = manager.status(["n1", "n2"])
    assert status["n1"].condition is NodeCondition.DRAINING
    assert status["n1"].jobs == (job,)
    assert status["n1"].drained_by("c-17") and not status["n1"].drained_by("c-18")
    assert status["n2"].condition is NodeCondition.IN_SERVICE
    assert "fleetflash c-17: firmware update" in slurm.run("sinfo", "-R", "-o", "%60E").stdout
    wait_for(lambda: manager.status(["n1"])["n1"].condition is NodeCondition.DRAINED,
             "n1 drained")
    assert slurm.job_states()[job] == "COMPLETED"  # the drain let the job finish
    manager.resume(["n1"])
    # Slurm pings a resumed node and reports it NOT_RESPONDING until the answer comes.
    wait_for(lambda: manager.status(["n1"])["n1"].condition is NodeCondition.IN_SERVICE,
             "n1 back in service")
    assert slurm.node_states()["n1"] == ("idle", ())


def test_an_operator_drain_is_reported_as_not_ours(slurm: SlurmRig) -> None:
    slurm.run("scontrol", "update", "nodename=n2", "state=drain", "reason=bad DIMM")
    status = SlurmManager(slurm.conf).status(["n2"])["n2"]
    assert status.condition is NodeCondition.DRAINED
    assert status.reason == "bad DIMM"
    assert not status.drained_by_gateway and not status.drained_by("c-17")


def test_a_maintenance_reservation_covers_exactly_the_given_nodes(slurm: SlurmRig) -> None:
    manager = SlurmManager(slurm.conf)
    start = datetime.now(UTC) + timedelta(minutes=10)
    manager.reserve("ff-c1-w1", ["n2", "n3"], start, timedelta(minutes=30))
    booked = manager.reservation("ff-c1-w1")
    assert booked is not None
    assert booked.nodes == ("n2", "n3")
    assert abs((booked.start - start).total_seconds()) < 1
    assert booked.end - booked.start == timedelta(minutes=30)
    assert not booked.active
    manager.release("ff-c1-w1")
    assert manager.reservation("ff-c1-w1") is None
    manager.release("ff-c1-w1")  # already gone: nothing to do


def test_a_reservation_over_a_busy_node_is_refused_with_slurms_message(
        slurm: SlurmRig) -> None:
    running(slurm, "n4", 60)
    with pytest.raises(ReservationRefusedError, match="Requested nodes are busy"):
        SlurmManager(slurm.conf).reserve("ff-c1-w2", ["n4"], datetime.now(UTC),
                                         timedelta(minutes=5))
    assert SlurmManager(slurm.conf).reservation("ff-c1-w2") is None


def test_an_unreachable_slurmctld_is_a_clear_error(tmp_path: Path) -> None:
    conf = lab_slurm.write_config(tmp_path, ["n1"])  # configured, never started
    manager = SlurmManager(conf)
    try:
        with pytest.raises(ManagerUnreachableError, match="sinfo --json.*slurmctld"):
            manager.status(["n1"])
        with pytest.raises(ManagerUnreachableError,
                           match="Unable to contact slurm controller"):
            manager.drain(["n1"], drain_reason("c-1"))
    finally:
        lab_slurm.remove_spool(conf)


def test_output_of_an_unknown_shape_names_the_command_and_version(
        slurm: SlurmRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real sinfo that answers a future shape: a wrapper script ahead on PATH.
    fake = tmp_path / "sinfo"
    fake.write_text('#!/bin/sh\necho \'{"meta": {}, "errors": [], "nodes": {"n1": {}}}\'\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin:/usr/sbin")
    with pytest.raises(UnexpectedOutputError, match=r"sinfo --json: unexpected output from "
                                                    r"Slurm 22\.05\.\d+ \(no 'nodes' list\)"):
        SlurmManager(slurm.conf).status(["n1"])
