"""The Slurm side of `fleetflash lab demo` for a topology with ``manager: slurm``.

Before the update is announced, every node of such a cluster gets a synthetic job
(``sbatch --wrap "sleep N"``, N spread so drains overlap jobs of different lengths).
After the rollout, two checks: no job ran on a node while its BMC was updating (the
audit log against Slurm's job completion log and the jobs still running), and every
node is back in service (the gateway resumed what it drained).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lab.lab_invariants import Check
from lab.lab_slurm import SlurmRig
from lab.lab_slurm_proof import JobSpan, completed_jobs, jobs_during_updates
from lab.lab_state import LabError, LabState

JOB_SECONDS = (4, 20)  # each node's job sleeps this many seconds (uniform, seeded)
RESUME_SETTLE_S = 30.0
DEMO_JOB = "fleetflash-demo"


def rigs(state: LabState) -> dict[str, SlurmRig]:
    """The running Slurm clusters the lab started (cluster name -> rig)."""
    return {name: SlurmRig(root=Path(raw["root"]), conf=Path(raw["conf"]),
                           nodes=tuple(raw["nodes"]), partition=str(raw["partition"]),
                           pids={k: int(v) for k, v in raw["pids"].items()})
            for name, raw in (state.document.get("slurm") or {}).items()}


def submit_workload(state: LabState, seed: int = 19, timeout_s: float = 60.0
                    ) -> dict[int, str]:
    """One sleep job per Slurm node, returned once every one runs (so the rollout meets
    busy nodes); returns job id -> node. LabError if they do not start."""
    chooser = random.Random(seed)
    jobs: dict[int, str] = {}
    for rig in rigs(state).values():
        submitted = [rig.sbatch(node, chooser.randint(*JOB_SECONDS), DEMO_JOB)
                     for node in rig.nodes]
        jobs.update(zip(submitted, rig.nodes, strict=True))
        deadline = time.monotonic() + timeout_s
        while any(rig.job_states().get(job) != "RUNNING" for job in submitted):
            if time.monotonic() > deadline:
                raise LabError(f"Slurm did not start the demo jobs: {rig.job_states()} "
                               f"(see {rig.root / 'log'})")
            time.sleep(0.3)
    return jobs


def running_jobs(rig: SlurmRig) -> list[JobSpan]:
    """Jobs that hold a node now, as spans ending now (``squeue --json``)."""
    done = rig.run("squeue", "--json")
    now = datetime.now(UTC)
    spans = []
    for job in json.loads(done.stdout)["jobs"]:
        if job["job_state"] in ("RUNNING", "COMPLETING"):
            nodes = rig.run("scontrol", "show", "hostnames", job["nodes"]).stdout.split()
            spans.append(JobSpan(int(job["job_id"]), tuple(nodes),
                                 datetime.fromtimestamp(int(job["start_time"]), UTC), now))
    return spans


def slurm_checks(state: LabState, audit: Iterable[Mapping[str, Any]]) -> list[Check]:
    records = list(audit)
    checks = []
    for name, rig in rigs(state).items():
        completions = _read(rig.root / "log" / "jobcomp.txt")
        jobs = completed_jobs(completions) + running_jobs(rig)
        finished = len(re.findall(rf"Name={DEMO_JOB} JobState=COMPLETED ", completions))
        checks.append(Check(f"every demo job ran to completion ({name})",
                            finished == len(rig.nodes),
                            f"{finished} of {len(rig.nodes)} completed (jobcomp log)"))
        # Slurm node names are the topology's node names; the audit log names BMCs.
        overlaps = jobs_during_updates(records, jobs, state.node_of_bmc)
        checks.append(Check(f"no Slurm job ran on a node while it updated ({name})",
                            not overlaps, "; ".join(overlaps) or
                            f"{len(jobs)} jobs checked against every node's update span"))
        # Slurm pings a node it just resumed and shows it NOT_RESPONDING until it answers.
        deadline = time.monotonic() + RESUME_SETTLE_S
        states = rig.node_states()
        while any(v != ("idle", ()) for v in states.values()) and time.monotonic() < deadline:
            time.sleep(0.5)
            states = rig.node_states()
        out = sorted(node for node, value in states.items() if value != ("idle", ()))
        checks.append(Check(f"every Slurm node back in service ({name})", not out,
                            ", ".join(f"{n} {states[n]}" for n in out) or
                            f"{len(states)} nodes idle, none drained"))
    return checks


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""
