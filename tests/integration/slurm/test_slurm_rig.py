"""The loopback Slurm rig itself: real daemons that schedule real jobs."""

from __future__ import annotations

import time

from lab.lab_slurm import SlurmRig
from tests.integration.slurm.conftest import NODES


def test_every_node_registers_idle_and_runs_a_job_where_asked(slurm: SlurmRig) -> None:
    assert slurm.node_states() == {node: ("idle", ()) for node in NODES}
    job = slurm.sbatch("n3", 0.1)
    deadline = time.monotonic() + 30
    while slurm.job_states().get(job) != "COMPLETED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert slurm.job_states()[job] == "COMPLETED"
    completions = (slurm.root / "log" / "jobcomp.txt").read_text(encoding="utf-8")
    assert f"JobId={job} " in completions and "NodeList=n3 " in completions
