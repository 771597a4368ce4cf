"""Who used the machine during a rollout: `bench/rollout.py` samples it every half second
(Linux /proc) so a figure can say whether the design or the machine set the limit.

Each sample: how busy the whole machine was (every core, /proc/stat) and the CPU each
role used since the last sample, in cores: ``gateways`` (this process and the extra
gateway processes), ``emulator`` (the emulated BMCs, one process), ``postgresql`` (the
server and its backends, with ``--database postgresql``). A **burst** is a stretch of
consecutive samples with the machine at least ``BURST_BUSY`` busy — at a wave boundary
the nodes that finish and the nodes that start all want the CPU at once.

Figures (``machine``): the cores, the share of samples at least 95 % and 80 % busy, each
role's CPU seconds over the run, and the bursts: how many, their seconds in all and the
longest, and each role's CPU seconds inside them. Read the bursts against the target:
work that needs C core-seconds at a boundary cannot be done in less than C / cores
seconds, and a role that is one Python process (the emulator) in less than its own
seconds, whatever the gateway does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lab.lab_postgres import PostgresServer

BURST_BUSY = 0.8
INTERVAL_S = 0.5

# role -> the pids whose CPU it counts (read at every sample: members start later).
Roles = Callable[[], dict[str, list[int]]]


def _ticks(pid: int, *, reaped_children: bool = False) -> int:
    """utime + stime of ``pid`` (with its reaped children's when asked); 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    last = 15 if reaped_children else 13
    return sum(int(f) for f in fields[11:last])


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (PostgreSQL's backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if stat[1] == str(pid):
                found.append(int(entry.name))
    return found


def server_pids(server: PostgresServer | None) -> list[int]:
    """The PostgreSQL server's postmaster and live backends (none without a server)."""
    pid = server.pid() if server is not None else None
    return [] if pid is None else [pid, *children(pid)]


def _machine() -> tuple[int, int]:
    """(all jiffies, idle + iowait jiffies) of every core since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


class MachineSampler:
    """Samples in a daemon thread from ``start()`` to ``stop()``; ``figures()`` after."""

    def __init__(self, roles: Roles, *, parents: frozenset[str] = frozenset(),
                 interval_s: float = INTERVAL_S) -> None:
        # ``parents``: roles whose pids' reaped children count too (a server's backends).
        self._roles = roles
        self._parents = parents
        self._interval = interval_s
        self._hz = os.sysconf("SC_CLK_TCK")
        self._samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine-sampler",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _role_ticks(self) -> dict[str, int]:
        return {role: sum(_ticks(pid, reaped_children=role in self._parents) for pid in pids)
                for role, pids in self._roles().items()}

    def _run(self) -> None:
        total, idle = _machine()
        before = self._role_ticks()
        while not self._stop.wait(self._interval):
            now_total, now_idle = _machine()
            now = self._role_ticks()
            elapsed = max(1, now_total - total)
            busy = 1.0 - (now_idle - idle) / elapsed
            seconds = elapsed / self._hz / (os.cpu_count() or 1)  # wall time sampled
            # A backend that exited before its parent reaped it leaves the sum: never < 0.
            cores = {role: max(0, ticks - before.get(role, 0)) / self._hz / seconds
                     for role, ticks in now.items()}
            self._samples.append((busy, cores | {"_seconds": seconds}))
            total, idle, before = now_total, now_idle, now

    def figures(self) -> dict[str, Any]:
        return machine_figures(self._samples)


@contextmanager
def sampling(emulator_pid: int, member_pids: Callable[[], list[int]],
             database: PostgresServer | None) -> Iterator[MachineSampler]:
    """A sampler of the bench's roles while the block runs: this process and the extra
    gateways (``member_pids``, read at each sample: they start later), the emulator and
    the PostgreSQL server with its backends."""
    sampler = MachineSampler(lambda: {"gateways": [os.getpid(), *member_pids()],
                                      "emulator": [emulator_pid],
                                      "postgresql": server_pids(database)},
                             parents=frozenset({"postgresql"}))
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.stop()


def machine_figures(samples: list[tuple[float, dict[str, float]]]) -> dict[str, Any]:
    """The module doc's figures from samples (machine busy share, role -> cores, with
    the sample's length in seconds under ``_seconds``)."""
    if not samples:
        return {}
    roles = sorted({role for _b, cores in samples for role in cores if role != "_seconds"})
    bursts: list[list[tuple[float, dict[str, float]]]] = []
    current: list[tuple[float, dict[str, float]]] = []
    for sample in [*samples, (0.0, {"_seconds": 0.0})]:  # the sentinel ends a last burst
        if sample[0] >= BURST_BUSY:
            current.append(sample)
        elif current:
            bursts.append(current)
            current = []

    def cpu_s(chosen: list[tuple[float, dict[str, float]]]) -> dict[str, float]:
        return {role: round(sum(c.get(role, 0.0) * c["_seconds"] for _b, c in chosen), 1)
                for role in roles}

    lengths = [sum(c["_seconds"] for _b, c in burst) for burst in bursts]
    return {
        "cores": os.cpu_count(),
        "busy_95_share": round(sum(b >= 0.95 for b, _c in samples) / len(samples), 3),
        "busy_80_share": round(sum(b >= BURST_BUSY for b, _c in samples) / len(samples), 3),
        "cpu_s": cpu_s(samples),
        "bursts": {"count": len(bursts), "seconds": round(sum(lengths), 1),
                   "longest_s": round(max(lengths, default=0.0), 1),
                   "cpu_s": cpu_s([s for burst in bursts for s in burst])},
    }
