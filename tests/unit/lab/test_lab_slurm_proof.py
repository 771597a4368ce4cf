"""The no-job-during-update proof: a job overlapping a node's update span is found."""

from __future__ import annotations

from lab.lab_slurm_proof import completed_jobs, jobs_during_updates

AUDIT = [
    {"ts": "2026-12-06T05:00:10.000+00:00", "bmc": "bmc-0000", "event": "media_insert"},
    {"ts": "2026-12-06T05:00:12.500+00:00", "bmc": "bmc-0000", "event": "flash_start"},
    {"ts": "2026-12-06T05:00:20.000+00:00", "bmc": "bmc-0000", "event": "media_eject"},
    {"ts": "2026-12-06T05:00:15.000+00:00", "bmc": "bmc-0000", "event": "power_on"},
]
NAMES = {"bmc-0000": "n1"}


def jobcomp(start: str, end: str, nodes: str = "n1") -> str:
    return (f"JobId=7 UserId=root(0) GroupId=root(0) Name=wrap JobState=COMPLETED "
            f"Partition=batch TimeLimit=UNLIMITED StartTime=2026-12-06T{start} "
            f"EndTime=2026-12-06T{end} NodeList={nodes} NodeCnt=1 ProcCnt=1\n")


def test_a_job_that_ran_during_the_update_is_reported() -> None:
    jobs = completed_jobs(jobcomp("05:00:05", "05:00:11"))
    (found,) = jobs_during_updates(AUDIT, jobs, NAMES)
    assert found.startswith("job 7 ran on n1 (05:00:05-05:00:11) while bmc-0000 updated")


def test_jobs_before_after_or_elsewhere_are_not() -> None:
    before = completed_jobs(jobcomp("05:00:01", "05:00:09"))
    after = completed_jobs(jobcomp("05:00:20", "05:00:40"))  # started within the last second
    elsewhere = completed_jobs(jobcomp("05:00:05", "05:00:30", nodes="n2"))
    assert jobs_during_updates(AUDIT, before + after + elsewhere, NAMES) == []
