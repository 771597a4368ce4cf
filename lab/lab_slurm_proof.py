"""Proof that no job ran on a node while its BMC was updating: the emulator's audit log
against Slurm's job completion log (jobcomp/filetxt) and ``squeue --json``.

A node's update span runs from its first to its last update event in the audit log
(lab.lab_invariants.UPDATE_EVENTS). Slurm writes job times to the second (start and
end truncated), so a job is counted only when it certainly overlapped: it started at
least a second before the span ended and ended after the span began.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from lab.lab_invariants import update_spans

_FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass(frozen=True)
class JobSpan:
    job_id: int
    nodes: tuple[str, ...]
    start: datetime
    end: datetime  # now, for a job still running


def completed_jobs(jobcomp_text: str, hostnames: Mapping[str, tuple[str, ...]] | None = None
                   ) -> list[JobSpan]:
    """Jobs from a jobcomp/filetxt log (one ``Key=Value`` line per job). `hostnames`
    expands NodeList expressions that are not plain comma lists."""
    jobs = []
    for line in jobcomp_text.splitlines():
        fields = dict(_FIELD.findall(line))
        if "JobId" not in fields or fields.get("StartTime", "Unknown") == "Unknown":
            continue
        node_list = fields.get("NodeList", "")
        nodes = (hostnames or {}).get(node_list) or tuple(n for n in node_list.split(",") if n)
        jobs.append(JobSpan(int(fields["JobId"]), tuple(nodes),
                            datetime.fromisoformat(fields["StartTime"]).astimezone(),
                            datetime.fromisoformat(fields["EndTime"]).astimezone()))
    return jobs


def jobs_during_updates(records: Iterable[Mapping[str, object]], jobs: Iterable[JobSpan],
                        slurm_name: Mapping[str, str]) -> list[str]:
    """One line per job that ran on a node while its BMC was updating (empty: none did).
    `slurm_name`: BMC/node id -> Slurm node name."""
    spans = update_spans(records)
    found = []
    for job in jobs:
        for bmc, (first, last) in spans.items():
            node = slurm_name.get(bmc, bmc)
            if node in job.nodes and job.start + timedelta(seconds=1) < last \
                    and job.end > first:
                found.append(f"job {job.job_id} ran on {node} ({job.start:%H:%M:%S}-"
                             f"{job.end:%H:%M:%S}) while {bmc} updated "
                             f"({first:%H:%M:%S.%f}-{last:%H:%M:%S.%f})")
    return found
