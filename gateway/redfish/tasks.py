"""Redfish task monitors: starting from a 202, polling with Retry-After, reading the outcome.

A long operation answers 202 Accepted with ``Location:`` a task monitor. GET
on the monitor answers 202 while the task runs (with ``Retry-After`` in
seconds or as an HTTP date) and the final answer once it is done. Some BMCs
delete a finished task before anyone reads it, or keep saying "running"
after completion; that is why the executor decides success by reading
versions, and uses a task only to know when to look.

What real BMCs do besides (docs/interop.md, "Vendor quirks"): the 202 names
the monitor in Location, or only in the body's @odata.id, or has no body at
all; TaskState says New, Starting or Pending for a while (all "running"); a
staged image's task says Stopping (bmcweb); a new monitor answers 404 for its
first seconds (iDRAC10) and a task is gone after the BMC restarts (both read
as ``missing``: the caller decides whether it is too early to believe); an
update moves to a Job (Dell: Update.OperationTransitionedToJob), which is then
followed in its place (``followed``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from sushy import exceptions as sushy_exc

from gateway.redfish.common import DEFAULT_POLL_SECONDS, link, member_links, parse_retry_after
from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import (
    OperationTimeoutError,
    RedfishError,
    TaskFailedError,
    translated,
)

LOG = logging.getLogger(__name__)

# Per Redfish TaskState: these end a task; everything else means "still going".
_SUCCESS_STATES = frozenset({"Completed"})
_FAILURE_STATES = frozenset({"Exception", "Killed", "Cancelled"})
# How long a monitor that has never answered may answer 404 before the task is taken
# as gone (iDRAC10 creates the task a few seconds after its 202).
NEW_MONITOR_404_GRACE_S = 60.0
# TaskState/JobState of an image written and waiting for a reset (bmcweb): not failed.
STAGED_STATE = "Stopping"
_RESET_MESSAGES = ("AwaitToActivate", "ResetRequired")
_TRANSITIONED_TO_JOB = "OperationTransitionedToJob"


@dataclass(frozen=True)
class TaskRef:
    """Where to follow an operation: the monitor URI (path) and, when known, the Task URI."""

    monitor_uri: str
    task_uri: str | None = None


@dataclass(frozen=True)
class TaskStatus:
    """One look at a task. ``finished``: no longer running. ``succeeded``: True/False
    when the BMC said so, None when it no longer knows (task gone). ``retry_after``:
    seconds to wait before the next look. ``message_ids``: e.g. "Update.1.0.ApplyFailed"."""

    state: str
    finished: bool
    succeeded: bool | None
    percent: int | None = None
    message_ids: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    retry_after: float = DEFAULT_POLL_SECONDS
    message_args: tuple[tuple[str, ...], ...] = ()  # MessageArgs of each message
    # The BMC answered 404 for the monitor and the task: it does not know the task
    # (not yet, or no longer). finished, succeeded None: only versions can tell.
    missing: bool = False
    # Where this status was read when not at the ref asked about: the Job the task
    # handed the update to. The caller follows that from now on.
    followed: TaskRef | None = None

    @property
    def awaits_reset(self) -> bool:
        """Stopping with a message asking for a reset: the image is written and waits
        for its activation (bmcweb's staged image), which is not a failure."""
        return self.state == STAGED_STATE and any(
            m.rsplit(".", 1)[-1] in _RESET_MESSAGES for m in self.message_ids)


@dataclass(frozen=True)
class TaskSummary:
    """A task the BMC lists: its URI (path), TaskState and StartTime (ISO 8601 text or "")."""

    uri: str
    state: str
    start_time: str

    @property
    def ref(self) -> TaskRef:
        return TaskRef(self.uri, self.uri)


def list_tasks(conn: FleetConnector, root_json: dict[str, Any]) -> list[TaskSummary]:
    """Every task in TaskService/Tasks, by URI; empty when the BMC has no TaskService.

    After a crash the executor looks here for a task it started but did not
    record, instead of starting a second flash.
    """
    return _listed(conn, root_json, ("Tasks", "Tasks", "TaskState"), "listing tasks")


def list_jobs(conn: FleetConnector, root_json: dict[str, Any]) -> list[TaskSummary]:
    """Every update Job in JobService/Jobs (a Job whose CreatedBy names another service
    is left out); empty when the BMC has no JobService. Where an update moves to a Job
    (docs/interop.md, "job-instead-of-task") its Task may be gone while the Job runs."""
    return _listed(conn, root_json, ("JobService", "Jobs", "JobState"), "listing jobs",
                   lambda body: "Update" in str(body.get("CreatedBy") or "Update"))


def _listed(conn: FleetConnector, root_json: dict[str, Any], names: tuple[str, str, str],
            what: str, wanted: Callable[[dict[str, Any]], bool] = lambda _body: True
            ) -> list[TaskSummary]:
    """The members of the collection ``names[1]`` of the service the root links as
    ``names[0]``, with their state property ``names[2]`` and StartTime."""
    service, member_collection, state = names
    service_uri = link(root_json, service)
    if service_uri is None:
        return []
    found: list[TaskSummary] = []
    with translated(what):
        collection_uri = link(_document(conn, service_uri), member_collection)
        if collection_uri is None:
            return []
        for uri in member_links(_document(conn, collection_uri)):
            body = _document(conn, uri)
            if wanted(body):
                found.append(TaskSummary(uri, str(body.get(state, "")),
                                         str(body.get("StartTime", ""))))
    return found


def _document(conn: FleetConnector, uri: str) -> dict[str, Any]:
    body = conn.get(uri).json()
    if not isinstance(body, dict):
        raise ValueError(f"{uri} is not a JSON object: {str(body)[:80]!r}")
    return body


def newest_since(found: list[TaskSummary], since: datetime) -> TaskRef | None:
    """The newest of ``found`` started at or after ``since`` (an aware time), if any."""
    newest: tuple[datetime, TaskRef] | None = None
    for task in found:
        try:
            started = datetime.fromisoformat(task.start_time)
        except ValueError:
            continue
        if started.tzinfo is None or started < since:
            continue
        if newest is None or started > newest[0]:
            newest = (started, task.ref)
    return newest[1] if newest else None


def _path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def task_ref_from(response: requests.Response) -> TaskRef | None:
    """The TaskRef of an action's answer; None when the action finished synchronously."""
    if response.status_code != 202:
        return None
    location = response.headers.get("Location")
    try:
        body = _json_or_empty(response)
    except ValueError:
        # The request was accepted: a body nobody can read does not undo that (and must
        # not make the caller send it again); the Location header alone is followed.
        LOG.warning("the BMC accepted the request (202) with an unreadable body")
        body = {}
    task_uri = body.get("@odata.id") if isinstance(body.get("@odata.id"), str) else None
    if not location and not task_uri:
        # Accepted and nothing to follow (DMTF: a 202 body is optional): versions decide.
        LOG.warning("the BMC accepted the request (202) without naming a task monitor")
        return None
    monitor = _path_of(location) if location else str(task_uri)
    return TaskRef(monitor, _path_of(task_uri) if task_uri else None)


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object; {} for an empty body (a 202 needs none). Anything else
    that is not a JSON object raises ValueError: never read as "no task, so success"."""
    if not response.content.strip():
        return {}
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"not a JSON object: {str(body)[:80]!r}")
    return body


def status_from_task(body: dict[str, Any], retry_after: float) -> TaskStatus:
    """Interpret a Task document (or a monitor answer carrying one), or a Job's."""
    raw = body.get("TaskState") or body.get("JobState") or "Running"
    if not isinstance(raw, str):  # a state nobody can act on: said, not guessed at
        raise ValueError(f"TaskState/JobState is not a string: {str(raw)[:80]!r}")
    state = raw
    messages = [m for m in body.get("Messages", []) if isinstance(m, dict)]
    finished = state in _SUCCESS_STATES | _FAILURE_STATES
    succeeded: bool | None = None
    if finished:
        health = body.get("TaskStatus", body.get("JobStatus"))
        succeeded = state in _SUCCESS_STATES and health != "Critical"
    percent = body.get("PercentComplete")
    return TaskStatus(
        state=state, finished=finished, succeeded=succeeded,
        percent=percent if isinstance(percent, int) else None,
        message_ids=tuple(str(m.get("MessageId", "")) for m in messages),
        messages=tuple(str(m.get("Message", "")) for m in messages),
        retry_after=retry_after,
        message_args=tuple(tuple(str(a) for a in m.get("MessageArgs") or ()
                                 if isinstance(m.get("MessageArgs"), list))
                           for m in messages),
    )


def transitioned_job(body: dict[str, Any]) -> str | None:
    """The Job URI (path) an Update.OperationTransitionedToJob message names, if any."""
    for message in body.get("Messages", []):
        if not isinstance(message, dict):
            continue
        if str(message.get("MessageId", "")).rsplit(".", 1)[-1] != _TRANSITIONED_TO_JOB:
            continue
        args = message.get("MessageArgs")
        if isinstance(args, list) and args and isinstance(args[0], str) and args[0]:
            return _path_of(args[0])
    return None


def poll_task(conn: FleetConnector, ref: TaskRef, *, now: datetime | None = None) -> TaskStatus:
    """Look at the task once (at the Job it moved to, if it did; ``followed`` then
    names it). Raises RedfishError (transient ones worth retrying)."""
    status, body = _poll_once(conn, ref, now)
    job = transitioned_job(body)
    if job is None or job == ref.monitor_uri:
        return status
    moved = TaskRef(job, job)
    LOG.info("task %s: the update moved to the job %s", ref.monitor_uri, job)
    return replace(_poll_once(conn, moved, now)[0], followed=moved)


def _poll_once(conn: FleetConnector, ref: TaskRef, now: datetime | None
               ) -> tuple[TaskStatus, dict[str, Any]]:
    with translated(f"reading task {ref.monitor_uri}"):
        try:
            response = conn.get(ref.monitor_uri)
        except sushy_exc.ResourceNotFoundError:
            response = None
        if response is None and ref.task_uri and ref.task_uri != ref.monitor_uri:
            try:
                response = conn.get(ref.task_uri)
            except sushy_exc.ResourceNotFoundError:
                response = None
    if response is None:
        # The BMC does not know the task (yet, or any more): only versions can tell.
        return TaskStatus(state="Gone", finished=True, succeeded=None, missing=True), {}
    wait = parse_retry_after(response.headers.get("Retry-After"), now=now)
    with translated(f"reading task {ref.monitor_uri}"):
        body = _json_or_empty(response)
        stateful = "TaskState" in body or "JobState" in body
        status = status_from_task(body, wait) if stateful else None
    if response.status_code == 202:
        if status is None or status.finished:
            # The monitor still answers 202: the operation is running whatever the body says.
            return TaskStatus("Running", False, None, retry_after=wait), body
        return status, body
    if status is not None:
        return status, body
    # A final answer that is not a Task: the operation's own result, i.e. success.
    return TaskStatus(state="Completed", finished=True, succeeded=True, retry_after=wait), body


def wait_for_task(
    conn: FleetConnector, ref: TaskRef, *, timeout: float, max_interval: float = 10.0,
    error_interval: float = 2.0, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    missing_grace: float = NEW_MONITOR_404_GRACE_S,
) -> TaskStatus:
    """Poll until the task finishes, honouring Retry-After (capped at ``max_interval`` s).

    Transient errors while polling (a BMC restarting as part of its own
    update refuses connections) are waited out, ``error_interval`` s apart.
    A monitor that has never answered may answer 404 for ``missing_grace`` s;
    a task that moves to a Job is followed there (``followed`` of the result
    names it). Returns the final status (succeeded True, or None when the BMC
    no longer knows the task), or a staged one (``awaits_reset``). Raises
    TaskFailedError when the task ended in Exception/Killed/Cancelled,
    OperationTimeoutError after ``timeout`` seconds, and permanent
    RedfishErrors from polling.
    """
    start = clock()
    deadline = start + timeout
    seen = False
    asked = ref
    while True:
        try:
            status = poll_task(conn, ref)
        except RedfishError as exc:
            if not exc.transient:
                raise
            LOG.debug("task %s: %s; polling again", ref.monitor_uri, exc)
            status = TaskStatus("Unreachable", False, None, retry_after=error_interval)
        if status.followed is not None:
            ref, seen = status.followed, True
        elif status.missing and not seen and clock() - start < missing_grace:
            status = replace(status, finished=False, retry_after=error_interval)
        elif status.state != "Unreachable":
            seen = True
        if ref != asked:
            status = replace(status, followed=ref)  # the caller learns where it went
        if status.awaits_reset:
            return status
        if status.finished:
            if status.succeeded is False:
                detail = "; ".join(m for m in status.messages if m) or "no message"
                raise TaskFailedError(f"task {ref.monitor_uri} ended {status.state}: {detail}")
            return status
        remaining = deadline - clock()
        if remaining <= 0:
            raise OperationTimeoutError(
                f"task {ref.monitor_uri} still {status.state} after {timeout:.0f} s"
            )
        sleep(min(status.retry_after, max_interval, remaining))
