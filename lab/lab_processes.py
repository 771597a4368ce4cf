"""Start, watch and stop the lab's background processes.

`lab up` returns while the emulator, publisher and gateway keep running, so
they are started in their own session (no terminal signal reaches them),
with stdin closed and their output in ``WORKDIR/logs/NAME.log``. Stopping is
by pid from the state file, after checking that the pid still runs the
command the lab started (pids are reused).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

from lab.lab_state import LabError
from lab.ports import restartable_port

# `python -P -m MODULE`: -P keeps the working directory (the lab's workdir, which has a
# "gateway" state directory) off sys.path, where it would shadow the gateway package.
PYTHON = [sys.executable, "-P", "-m"]
FLEETFLASH = [*PYTHON, "lab.cli"]  # what the `fleetflash` console script runs


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now, below the kernel's ephemeral range
    (lab/ports.py): between this answer and its server's bind, and whenever the
    server restarts on it (a gateway killed and started again), no outgoing
    connection on the machine can take it (a lab's API once found its port taken:
    "Address already in use"); never one this process handed out recently."""
    return restartable_port()


def spawn(name: str, argv: Sequence[str], workdir: Path) -> subprocess.Popen[bytes]:
    """Start `argv` detached, logging to WORKDIR/logs/NAME.log; returns the process."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{name}.log", "ab") as log:
        return subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=workdir)


def log_tail(workdir: Path, name: str, lines: int = 8) -> str:
    """The last lines of a process's log, for error messages."""
    try:
        text = (workdir / "logs" / f"{name}.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def wait_until(name: str, ready: Callable[[], bool], process: subprocess.Popen[bytes],
               workdir: Path, timeout_s: float) -> None:
    """Poll `ready()` until true; LabError (with the log's tail) if the process exits
    first or `timeout_s` seconds pass."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"{name} exited with status {process.returncode}:\n"
                           f"{log_tail(workdir, name)}")
        if ready():
            return
        time.sleep(0.1)
    raise LabError(f"{name} did not answer within {timeout_s:.0f} s:\n{log_tail(workdir, name)}")


def answers(url: str, *, token: str | None = None) -> bool:
    """True when GET `url` gets any HTTP answer below 500."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        return requests.get(url, timeout=2, headers=headers).status_code < 500
    except requests.RequestException:
        return False


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _reap(pid: int) -> bool:
    """True if `pid` is gone. A child of this process is reaped (else it stays a zombie)."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            return True
    except ChildProcessError:
        pass  # not our child: `lab up` ran in another process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def running(pid: int, marker: str) -> bool:
    """True when `pid` is alive and its command line contains `marker`."""
    if _reap(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return marker.encode() in cmdline


def stop(pid: int, marker: str, timeout_s: float = 15.0) -> bool:
    """SIGTERM the process (SIGKILL after `timeout_s`); False if it was not running."""
    if not running(pid, marker):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _reap(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    while not _reap(pid):
        time.sleep(0.05)
    return True
