"""The Slurm part of `bench/rollout.py --manager slurm`: a real loopback Slurm with one
slurmd per emulated node (lab/lab_slurm.py), a synthetic workload, and its figures.

Workload: one ``sleep`` job per node, lengths spread uniformly over JOB_SECONDS
(seeded), all running when the update is announced, so every drain meets a busy node.
Figures: ``job_seconds_lost`` is the run time of every job that did not complete (a job
cancelled, killed or requeued loses what it had done), read from Slurm's job completion
log; ``jobs_during_update`` counts jobs that ran on a node while its BMC was updating
(audit log against the completion log). Both must be 0.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from lab import lab_slurm
from lab.lab_slurm import SlurmRig
from lab.lab_slurm_proof import completed_jobs, jobs_during_updates

JOB_SECONDS = (5, 60)
_LINE = re.compile(r"JobState=(\w+) .*StartTime=(\S+) EndTime=(\S+)")


def start(work: Path, node_ids: list[str]) -> SlurmRig:
    return lab_slurm.start(work / "slurm", node_ids, cluster="bench", timeout_s=180)


def config_lines(rig: SlurmRig, max_wait_s: float, mode: str = "drain") -> list[str]:
    """The [clusters.cluster_manager] table (Slurm names = node ids)."""
    return ["[clusters.cluster_manager]", 'manager = "slurm"', f'slurm_conf = "{rig.conf}"',
            f'mode = "{mode}"', f"max_wait_s = {max_wait_s}", ""]


def submit_workload(rig: SlurmRig, seed: int = 19, limits: bool = False) -> dict[int, float]:
    """One sleep job per node; returns job id -> seconds, once every job runs. With
    `limits` each job has a time limit (its length rounded up to whole minutes, plus
    one), as reservation mode needs: Slurm books a maintenance window only past the
    limits of the jobs running on its nodes."""
    chooser = random.Random(seed)
    jobs: dict[int, float] = {}
    for node in rig.nodes:
        seconds = chooser.uniform(*JOB_SECONDS)
        limit = -(-int(seconds) // 60) + 1 if limits else None
        jobs[rig.sbatch(node, round(seconds, 1), "bench-load", limit)] = seconds
    deadline = time.monotonic() + 300
    while any(rig.job_states().get(job) != "RUNNING" for job in jobs):
        if time.monotonic() > deadline:
            raise SystemExit(f"Slurm did not start the workload: {rig.job_states()}")
        time.sleep(0.5)
    return jobs


def figures(rig: SlurmRig, jobs: Mapping[int, float],
            audit: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_SECONDS[1] + 60
    while set(rig.job_states().values()) & lab_slurm.LIVE_JOB_STATES:
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    text = (rig.root / "log" / "jobcomp.txt").read_text(encoding="utf-8")
    lost = 0.0
    completed = 0
    for line in text.splitlines():
        match = _LINE.search(line)
        if match is None or "Name=bench-load" not in line:
            continue
        if match[1] == "COMPLETED":
            completed += 1
            continue
        if match[2] != "Unknown" and match[3] != "Unknown":
            lost += (datetime.fromisoformat(match[3])
                     - datetime.fromisoformat(match[2])).total_seconds()
    overlaps = jobs_during_updates(list(audit), completed_jobs(text),
                                   {node: node for node in rig.nodes})
    return {"jobs": len(jobs), "jobs_completed": completed,
            "job_seconds_lost": round(lost, 1), "jobs_during_update": len(overlaps),
            "job_seconds_total": round(sum(jobs.values()), 1)}
