"""Jobs of one BMC (JobService/Jobs), for the job-instead-of-task quirk.

A Dell iDRAC hands a firmware update to a Job: the update request's Task
ends at once with Update.OperationTransitionedToJob naming the Job, and the
progress (JobState, PercentComplete, Messages) is the Job's (Job_v1 schema).
A Job is a Task with another address and its own property names, driven by
the same worker.
"""

from __future__ import annotations

from typing import Any, ClassVar

from emulator.tasks import Task

JOB_SERVICE_URI = "/redfish/v1/JobService"
JOBS_URI = f"{JOB_SERVICE_URI}/Jobs"


class Job(Task):
    """One Job: the Task state machine, shown as a Job_v1 resource."""

    STATE_PROPERTY: ClassVar[str] = "JobState"

    @property
    def uri(self) -> str:
        return f"{JOBS_URI}/{self.id}"

    @property
    def monitor_uri(self) -> str:
        return self.uri  # a Job has no task monitor: clients read the Job itself

    def to_redfish(self) -> dict[str, Any]:
        task = super().to_redfish()
        body: dict[str, Any] = {
            "@odata.id": self.uri,
            "@odata.type": "#Job.v1_2_5.Job",
            "Id": self.id,
            "Name": self.name,
            "JobState": task["TaskState"],
            "JobStatus": task["TaskStatus"],
            "PercentComplete": task["PercentComplete"],
            "StartTime": task["StartTime"],
            "CreatedBy": "UpdateService",
            "Messages": task["Messages"],
        }
        for optional in ("EndTime", "Payload"):
            if optional in task:
                body[optional] = task[optional]
        return body
