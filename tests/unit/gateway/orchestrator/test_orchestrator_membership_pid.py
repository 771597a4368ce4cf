"""A gateway killed with -9 and never reaped (a zombie) no longer holds its name: a
restarted gateway of the same name on the same host may take it back at once."""

from __future__ import annotations

import os
import signal
import subprocess

from gateway.orchestrator.membership import _pid_alive
from tests.support.waiting import wait_until


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rsplit(")", 1)[-1].split()[0]


def test_a_killed_unreaped_process_is_not_alive_and_a_running_one_is() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert _pid_alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        wait_until(lambda: _state(child.pid) == "Z", 10, describe="the child a zombie")
        assert not _pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not _pid_alive(child.pid)
    assert _pid_alive(os.getpid())
