"""Task state machine: transitions, progress, status and the events they publish."""

from __future__ import annotations

from emulator.tasks import TaskState, TaskStore


def _store() -> tuple[TaskStore, list[tuple[str, tuple[str, ...]]]]:
    seen: list[tuple[str, tuple[str, ...]]] = []
    return TaskStore(lambda task, message_id, args: seen.append((message_id, args))), seen


def test_successful_life_cycle_publishes_each_step() -> None:
    store, seen = _store()
    task = store.create("update")
    assert task.state is TaskState.NEW
    task.start()
    task.progress(30)
    task.progress(20)  # never backwards
    task.add_message("Update.ApplyingOnComponent", "img", "BIOS")
    task.complete()
    document = task.to_redfish()
    assert document["TaskState"] == "Completed" and document["PercentComplete"] == 100
    assert document["TaskStatus"] == "OK" and "EndTime" in document
    assert document["Messages"][0]["MessageId"] == "Update.1.3.0.ApplyingOnComponent"
    assert [m for m, _ in seen] == ["TaskEvent.TaskStarted", "TaskEvent.TaskProgressChanged",
                                    "TaskEvent.TaskCompletedOK"]


def test_warning_message_makes_completion_a_warning() -> None:
    store, seen = _store()
    task = store.create("update")
    task.start()
    task.add_message("Update.UpdateNotApplicable", "img", "M1")
    task.complete()
    assert task.status == "Warning"
    assert seen[-1][0] == "TaskEvent.TaskCompletedWarning"


def test_failure_is_final() -> None:
    store, seen = _store()
    task = store.create("update")
    task.start()
    task.fail()
    task.complete()  # ignored: a finished task stays finished
    assert task.state is TaskState.EXCEPTION and task.status == "Critical"
    assert seen[-1][0] == "TaskEvent.TaskAborted"
    assert store.running() == []


def test_ids_are_unique_and_listed() -> None:
    store, _seen = _store()
    tasks = [store.create("t") for _ in range(3)]
    assert [t.id for t in store.all()] == [t.id for t in tasks] == ["1", "2", "3"]
    assert store.get("2") is tasks[1] and store.get("9") is None
