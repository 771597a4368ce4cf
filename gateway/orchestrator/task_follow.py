"""One look at the BMC task a step follows (MONITOR's update task, STAGE's staging
task), with what real BMCs add to it (docs/interop.md, "Vendor quirks"):

- the update moved to a Job (Dell): the Job is followed from then on, recorded
  in place of the task so that a restarted gateway follows it too;
- a monitor that has never answered says 404 for a while after the 202
  (iDRAC10): that is "not there yet" for up to NEW_MONITOR_404_GRACE_S after
  the request, never a verdict; once it has answered, a 404 means the task is
  gone (a BMC restart forgets tasks) and the versions decide.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from gateway.orchestrator.context import StepContext
from gateway.redfish import TaskRef, TaskStatus
from gateway.redfish.tasks import NEW_MONITOR_404_GRACE_S

LOG = logging.getLogger(__name__)
_GRACE = timedelta(seconds=NEW_MONITOR_404_GRACE_S)


def look_at_task(ctx: StepContext, *, staging: bool = False) -> TaskStatus | None:
    """The task's status, or None while a monitor that never answered still says 404
    within the grace (the caller looks again shortly). ``staging``: STAGE's task."""
    progress = ctx.progress
    if staging:
        monitor, uri, since = progress.stage_task, progress.stage_task_uri, progress.stage_intent
    else:
        monitor, uri, since = progress.task, progress.task_uri, progress.update_intent
    assert monitor is not None, "look_at_task needs a task to follow"
    status = ctx.client().task_status(TaskRef(monitor, uri))
    if (moved := status.followed) is not None:
        LOG.info("node %s: the update moved from %s to the job %s", ctx.node, monitor,
                 moved.monitor_uri)
        if staging:
            moved_progress = replace(progress, stage_task=moved.monitor_uri,
                                     stage_task_uri=moved.task_uri)
        else:
            moved_progress = replace(progress, task=moved.monitor_uri, task_uri=moved.task_uri)
        ctx.mark(replace(moved_progress, task_seen=moved.monitor_uri))
    elif status.missing:
        if progress.task_seen != monitor and since is not None and ctx.now - since < _GRACE:
            return None
    elif progress.task_seen != monitor:
        ctx.mark(replace(progress, task_seen=monitor))
    return status
