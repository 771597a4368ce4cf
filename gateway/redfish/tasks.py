"""Redfish task monitors: starting from a 202, polling with Retry-After, reading the outcome.

A long operation answers 202 Accepted with ``Location:`` a task monitor. GET
on the monitor answers 202 while the task runs (with ``Retry-After`` in
seconds or as an HTTP date) and the final answer once it is done. Some BMCs
delete a finished task before anyone reads it, or keep saying "running"
after completion; that is why the executor decides success by reading
versions, and uses a task only to know when to look.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    service_uri = link(root_json, "Tasks")
    if service_uri is None:
        return []
    found: list[TaskSummary] = []
    with translated("listing tasks"):
        collection_uri = link(conn.get(service_uri).json(), "Tasks")
        if collection_uri is None:
            return []
        for uri in member_links(conn.get(collection_uri).json()):
            body = conn.get(uri).json()
            found.append(TaskSummary(uri, str(body.get("TaskState", "")),
                                     str(body.get("StartTime", ""))))
    return found


def _path_of(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def task_ref_from(response: requests.Response) -> TaskRef | None:
    """The TaskRef of an action's answer; None when the action finished synchronously."""
    if response.status_code != 202:
        return None
    location = response.headers.get("Location")
    body = _json_or_empty(response)
    task_uri = body.get("@odata.id") if isinstance(body.get("@odata.id"), str) else None
    if not location and not task_uri:
        raise TaskFailedError("the BMC accepted the request (202) but named no task monitor")
    monitor = _path_of(location) if location else str(task_uri)
    return TaskRef(monitor, _path_of(task_uri) if task_uri else None)


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def status_from_task(body: dict[str, Any], retry_after: float) -> TaskStatus:
    """Interpret a Task document (or a monitor answer carrying one)."""
    state = str(body.get("TaskState", "Running"))
    messages = [m for m in body.get("Messages", []) if isinstance(m, dict)]
    finished = state in _SUCCESS_STATES | _FAILURE_STATES
    succeeded: bool | None = None
    if finished:
        succeeded = state in _SUCCESS_STATES and body.get("TaskStatus") != "Critical"
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


def poll_task(conn: FleetConnector, ref: TaskRef, *, now: datetime | None = None) -> TaskStatus:
    """Look at the task once. Raises RedfishError (transient ones worth retrying)."""
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
        # The BMC forgot the task: only the versions can tell what happened.
        return TaskStatus(state="Unknown", finished=True, succeeded=None)
    wait = parse_retry_after(response.headers.get("Retry-After"), now=now)
    body = _json_or_empty(response)
    if response.status_code == 202:
        status = status_from_task(body, wait) if "TaskState" in body else None
        if status is None or status.finished:
            # The monitor still answers 202: the operation is running whatever the body says.
            return TaskStatus("Running", False, None, retry_after=wait)
        return status
    if "TaskState" in body:
        return status_from_task(body, wait)
    # A final answer that is not a Task: the operation's own result, i.e. success.
    return TaskStatus(state="Completed", finished=True, succeeded=True, retry_after=wait)


def wait_for_task(
    conn: FleetConnector, ref: TaskRef, *, timeout: float, max_interval: float = 10.0,
    error_interval: float = 2.0, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TaskStatus:
    """Poll until the task finishes, honouring Retry-After (capped at ``max_interval`` s).

    Transient errors while polling (a BMC restarting as part of its own
    update refuses connections) are waited out, ``error_interval`` s apart.
    Returns the final status (succeeded True, or None when the BMC no longer
    knows the task). Raises TaskFailedError when the task ended in
    Exception/Killed/Cancelled, OperationTimeoutError after ``timeout``
    seconds, and permanent RedfishErrors from polling.
    """
    deadline = clock() + timeout
    while True:
        try:
            status = poll_task(conn, ref)
        except RedfishError as exc:
            if not exc.transient:
                raise
            LOG.debug("task %s: %s; polling again", ref.monitor_uri, exc)
            status = TaskStatus("Unreachable", False, None, retry_after=error_interval)
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
