"""The hpc-slurm lab: `lab up` starts real Slurm daemons per node, `lab down` stops them,
and `fleetflash lab demo --topology hpc-slurm` updates every node between jobs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from lab.lab_slurm_demo import rigs
from lab.lab_state import read_state
from tests.e2e.conftest import TOPOLOGIES, fleetflash


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_lab_up_runs_slurm_for_the_cluster_and_lab_down_stops_it(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    up = fleetflash("lab", "up", str(TOPOLOGIES / "hpc-slurm.yaml"), "--state-file",
                    str(state_file), "--workdir", str(tmp_path / "lab"))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        (rig,) = rigs(read_state(state_file)).values()
        assert rig.node_states() == {f"hpc-r{r}-{i}": ("idle", ())
                                     for r in (1, 2) for i in (1, 2, 3)}
        assert sorted(rig.pids) == sorted(["munged", "slurmctld", *(
            f"slurmd-hpc-r{r}-{i}" for r in (1, 2) for i in (1, 2, 3))])
        assert all(running(pid) for pid in rig.pids.values())
        config = (tmp_path / "lab" / "gateway.toml").read_text()
        assert f'slurm_conf = "{rig.conf}"' in config
    finally:
        down = fleetflash("lab", "down", "--state-file", str(state_file))
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(running(pid) for pid in rig.pids.values())
    assert json.loads(state_file.read_text())["stopped_at"]


def test_hpc_slurm_demo_never_flashes_a_node_while_a_job_runs_on_it(tmp_path: Path) -> None:
    result = fleetflash("lab", "demo", "--topology", "hpc-slurm", "--state-file",
                        str(tmp_path / "state.json"), "--workdir", str(tmp_path / "demo"),
                        timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "6 sleep jobs submitted, one per node" in out
    assert re.search(r"no Slurm job ran on a node while it updated \(hpc\)\s*│\s*PASS", out)
    assert re.search(r"every demo job ran to completion \(hpc\)\s*│\s*PASS", out)
    assert re.search(r"every Slurm node back in service \(hpc\)\s*│\s*PASS", out)
    assert "demo passed" in out
    # Slurm's own record: the six jobs completed, none was cancelled.
    completions = (tmp_path / "demo" / "slurm" / "hpc" / "log" / "jobcomp.txt").read_text()
    assert completions.count("JobState=COMPLETED") == 6, completions
