"""/redfish/v1/JobService: the Jobs an update moved to (job-instead-of-task quirk).

Offered only by a BMC with that quirk (the service root links it then). A Job
answers 200 with its JobState whatever that is: unlike a task monitor it never
says "still running" with a 202, so a client must read JobState.
"""

from __future__ import annotations

from flask import Blueprint, Response

from emulator.audit import utc_now
from emulator.jobs import JOB_SERVICE_URI, JOBS_URI
from emulator.redfish.common import bmc, existing, json_response, not_found
from emulator.redfish.documents import OK_STATUS, collection, ref, resource

blueprint = Blueprint("job_service", __name__)

QUIRK = "job-instead-of-task"


def _offered() -> None:
    if QUIRK not in bmc().quirks:
        raise not_found("JobService", JOB_SERVICE_URI)


@blueprint.get(JOB_SERVICE_URI)
def job_service() -> Response:
    _offered()
    return json_response(resource(
        JOB_SERVICE_URI, "#JobService.v1_0_6.JobService", "JobService", "Job Service",
        ServiceEnabled=True,
        DateTime=utc_now(),
        ServiceCapabilities={"MaxJobs": 100, "Scheduling": False},
        Status=OK_STATUS,
        Jobs=ref(JOBS_URI),
    ))


@blueprint.get(JOBS_URI)
def jobs() -> Response:
    _offered()
    return json_response(
        collection(JOBS_URI, "JobCollection", "Jobs", [j.uri for j in bmc().jobs.all()])
    )


@blueprint.get(f"{JOBS_URI}/<job_id>")
def job(job_id: str) -> Response:
    _offered()
    return json_response(existing(bmc().jobs.get(job_id), "Job", job_id).read())
