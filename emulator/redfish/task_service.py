"""/redfish/v1/TaskService: tasks and their monitors.

A task monitor answers 202 Accepted with Retry-After while the task runs and
200 with the finished task afterwards (DSP0266 "Asynchronous operations").
The task URI itself answers the same way while the task runs: sushy's
TaskMonitor.from_response follows the task's @odata.id from the 202 body and
polls that URI, as BMCs whose task URI doubles as the monitor expect.

With the task-monitor-404-at-first quirk (iDRAC10) a new task, its monitor and
its place in the collection answer as if it did not exist for the quirk's
seconds after the 202.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response

from emulator.audit import utc_now
from emulator.redfish.common import bmc, existing, json_response, not_found
from emulator.redfish.documents import OK_STATUS, collection, ref, resource
from emulator.tasks import FINAL_STATES, MONITORS_URI, RETRY_AFTER_S, TASKS_URI, Task

blueprint = Blueprint("task_service", __name__)

SERVICE_URI = "/redfish/v1/TaskService"
LATE_QUIRK = "task-monitor-404-at-first"


@blueprint.get(SERVICE_URI)
def task_service() -> Response:
    return json_response(resource(
        SERVICE_URI, "#TaskService.v1_3_0.TaskService", "TaskService", "Task Service",
        ServiceEnabled=True,
        DateTime=utc_now(),
        CompletedTaskOverWritePolicy="Oldest",
        LifeCycleEventOnTaskStateChange=True,
        Status=OK_STATUS,
        Tasks=ref(TASKS_URI),
    ))


@blueprint.get(TASKS_URI)
def tasks() -> Response:
    return json_response(
        collection(TASKS_URI, "TaskCollection", "Tasks",
                   [t.uri for t in bmc().tasks.all() if _visible(t)])
    )


def _visible(task: Task) -> bool:
    """False while a task-monitor-404-at-first BMC still hides its new task."""
    quirks = bmc().quirks
    if LATE_QUIRK not in quirks:
        return True
    return time.monotonic() - task.created >= quirks.value(LATE_QUIRK)


def _task(task_id: str) -> Task:
    found = existing(bmc().tasks.get(task_id), "Task", task_id)
    if not _visible(found):
        raise not_found("Task", task_id)
    return found


def monitor_response(task: Task) -> Response:
    """202 + Retry-After + task body while running; 200 + task body when finished."""
    body = task.read()
    if body["TaskState"] in FINAL_STATES:
        return json_response(body)
    return json_response(
        body, 202, {"Retry-After": str(RETRY_AFTER_S), "Location": task.monitor_uri}
    )


@blueprint.get(f"{TASKS_URI}/<task_id>")
def task(task_id: str) -> Response:
    return monitor_response(_task(task_id))


@blueprint.get(f"{MONITORS_URI}/<task_id>")
def task_monitor(task_id: str) -> Response:
    return monitor_response(_task(task_id))
