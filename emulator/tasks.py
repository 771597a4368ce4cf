"""Tasks of one BMC: a real state machine, never a canned answer.

TaskState moves New -> Running -> Completed | Exception (or Cancelled); the
worker that does the job drives it and reports PercentComplete and Messages
as work progresses. Every transition is published as a TaskEvent. Two vendor
quirks (emulator/quirks.py) change only what a client reads: ``early_states``
(task-new-until-polled) and Stopping for an image staged until a host reset
(task-stopping-while-staged).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from emulator.audit import utc_now
from emulator.messages import message

TASKS_URI = "/redfish/v1/TaskService/Tasks"
MONITORS_URI = "/redfish/v1/TaskService/TaskMonitors"
# Finished tasks kept per BMC; older ones are dropped as real BMCs do.
MAX_FINISHED_TASKS = 100
RETRY_AFTER_S = 1

TaskListener = Callable[["Task", str, tuple[str, ...]], None]


class TaskState(StrEnum):
    NEW = "New"
    STARTING = "Starting"
    RUNNING = "Running"
    # bmcweb: an image written and waiting for its activation (not finished, not failed).
    STOPPING = "Stopping"
    COMPLETED = "Completed"
    EXCEPTION = "Exception"
    CANCELLED = "Cancelled"


FINAL_STATES = frozenset({TaskState.COMPLETED, TaskState.EXCEPTION, TaskState.CANCELLED})
_HEALTH_ORDER = {"OK": 0, "Warning": 1, "Critical": 2}


@dataclass
class Task:
    """One task. Mutate only through its methods (they lock and publish events)."""

    # The property that carries the state in to_redfish (a Job says JobState).
    STATE_PROPERTY: ClassVar[str] = "TaskState"
    id: str
    name: str
    listener: TaskListener
    state: TaskState = TaskState.NEW
    percent: int = 0
    status: str = "OK"
    messages: list[dict[str, Any]] = field(default_factory=list)
    start_time: str = field(default_factory=utc_now)
    end_time: str | None = None
    payload: dict[str, Any] | None = None
    # States shown instead of the real one to the next reads, one per read
    # (task-new-until-polled: New, then Starting, whatever the work has reached).
    early_states: list[TaskState] = field(default_factory=list)
    created: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Set once a client has read the task in its final state (see seen_finished).
    _seen_finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def uri(self) -> str:
        return f"{TASKS_URI}/{self.id}"

    @property
    def monitor_uri(self) -> str:
        return f"{MONITORS_URI}/{self.id}"

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def start(self) -> None:
        with self._lock:
            if self.state is not TaskState.NEW:
                return
            self.state = TaskState.RUNNING
        self.listener(self, "TaskEvent.TaskStarted", (self.id,))

    def add_message(self, message_id: str, *args: object) -> None:
        """Append a registry message; its severity raises TaskStatus if worse."""
        rendered = message(message_id, *args)
        with self._lock:
            self.messages.append(rendered)
            severity = rendered["MessageSeverity"]
            if _HEALTH_ORDER.get(severity, 0) > _HEALTH_ORDER[self.status]:
                self.status = severity

    def progress(self, percent: int) -> None:
        """Set PercentComplete (0..100, never backwards)."""
        percent = max(0, min(100, int(percent)))
        with self._lock:
            if percent <= self.percent or self.finished:
                return
            self.percent = percent
        self.listener(self, "TaskEvent.TaskProgressChanged", (self.id, str(percent)))

    def complete(self) -> None:
        """Finish successfully (TaskStatus stays Warning if a warning was added)."""
        with self._lock:
            if self.finished:
                return
            self.state = TaskState.COMPLETED
            self.percent = 100
            self.end_time = utc_now()
        event = "TaskCompletedOK" if self.status == "OK" else "TaskCompletedWarning"
        self.listener(self, f"TaskEvent.{event}", (self.id,))

    def stop_staged(self) -> None:
        """The work is done but waits for a host reset: TaskState Stopping until
        complete() (bmcweb's staged image; task-stopping-while-staged)."""
        with self._lock:
            if self.finished:
                return
            self.state = TaskState.STOPPING
            self.percent = 100

    def fail(self) -> None:
        """Finish with TaskState Exception and TaskStatus Critical."""
        with self._lock:
            if self.finished:
                return
            self.state = TaskState.EXCEPTION
            self.status = "Critical"
            self.end_time = utc_now()
        self.listener(self, "TaskEvent.TaskAborted", (self.id,))

    def read(self) -> dict[str, Any]:
        """The Redfish document a client reads; remembers when it showed the final state."""
        body = self.to_redfish()
        with self._lock:
            early = self.early_states.pop(0) if self.early_states else None
        if early is not None:
            body[self.STATE_PROPERTY] = early.value
        if body[self.STATE_PROPERTY] in FINAL_STATES:
            self._seen_finished.set()
        return body

    def wait_seen_finished(self, timeout_s: float) -> bool:
        """Wait until a client has read the finished task; False after timeout_s."""
        return self._seen_finished.wait(timeout_s)

    def to_redfish(self) -> dict[str, Any]:
        with self._lock:
            body: dict[str, Any] = {
                "@odata.id": self.uri,
                "@odata.type": "#Task.v1_7_4.Task",
                "Id": self.id,
                "Name": self.name,
                "TaskState": self.state.value,
                "TaskStatus": self.status,
                "PercentComplete": self.percent,
                "StartTime": self.start_time,
                "TaskMonitor": self.monitor_uri,
                "Messages": [dict(m) for m in self.messages],
            }
            if self.end_time:
                body["EndTime"] = self.end_time
            if self.payload:
                body["Payload"] = dict(self.payload)
            return body


class TaskStore:
    """The BMC's tasks (TaskService/Tasks members); thread-safe."""

    def __init__(self, listener: TaskListener,
                 factory: Callable[..., Task] | None = None) -> None:
        self._listener = listener
        self._factory = factory or Task
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._ids = itertools.count(1)

    def create(self, name: str, payload: dict[str, Any] | None = None) -> Task:
        with self._lock:
            task = self._factory(id=str(next(self._ids)), name=name, listener=self._listener)
            task.payload = payload
            self._tasks[task.id] = task
            finished = [t for t in self._tasks.values() if t.finished]
            for old in finished[: max(0, len(finished) - MAX_FINISHED_TASKS)]:
                del self._tasks[old.id]
            return task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def all(self) -> list[Task]:
        with self._lock:
            return list(self._tasks.values())

    def running(self) -> list[Task]:
        return [t for t in self.all() if not t.finished]

    def clear(self) -> None:
        """Forget every task (a BMC restart with task-lost-on-bmc-restart)."""
        with self._lock:
            self._tasks.clear()
