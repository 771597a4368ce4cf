"""A real Slurm cluster on loopback for the cluster-manager tests (lab/lab_slurm.py).

``slurm_rig`` (session): munged, slurmctld and four ``slurmd -N`` daemons in a temp
dir, started by the first test that asks for it and stopped at the end of the session.
``slurm`` (per test): the same rig, returned to a clean state afterwards (jobs
cancelled, reservations deleted, every node resumed), so tests do not see each other.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lab import lab_slurm
from lab.lab_slurm import SlurmRig

NODES = ("n1", "n2", "n3", "n4")


@pytest.fixture(scope="session")
def slurm_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmRig]:
    missing = lab_slurm.missing_programs()
    if missing:
        pytest.fail(f"Slurm/munge not installed ({', '.join(missing)}): run scripts/bootstrap.sh")
    rig = lab_slurm.start(tmp_path_factory.mktemp("slurm"), NODES, cluster="fftest")
    yield rig
    lab_slurm.stop(rig)


@pytest.fixture
def slurm(slurm_rig: SlurmRig) -> Iterator[SlurmRig]:
    yield slurm_rig
    reset(slurm_rig)


def reset(rig: SlurmRig) -> None:
    """Cancel every job, delete every reservation, resume every node; wait until idle."""
    rig.run("scancel", "--full", "--user=root", check=False)
    done = rig.run("scontrol", "-o", "show", "reservation", check=False)
    for line in done.stdout.splitlines():
        if line.startswith("ReservationName="):
            name = line.split()[0].split("=", 1)[1]
            rig.run("scontrol", "delete", f"reservationname={name}", check=False)
    for node, (state, flags) in rig.node_states().items():
        if flags or state != "idle":
            rig.run("scontrol", "update", f"nodename={node}", "state=resume", check=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(s == ("idle", ()) for s in rig.node_states().values()) and not (
                set(rig.job_states().values()) & lab_slurm.LIVE_JOB_STATES):
            return
        time.sleep(0.2)
    raise AssertionError(f"Slurm did not return to idle: {rig.node_states()}")

