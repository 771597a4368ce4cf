"""The Slurm adapter of the cluster-manager port: scontrol, sinfo and squeue on the gateway host.

Slurm 22.05 (Debian 12) is the version this is tested against, with real daemons
(tests/integration/slurm). What it taught, and what this adapter relies on:

- ``sinfo --json`` and ``squeue --json`` exist (OpenAPI v0.0.38 shapes) and are the
  only sources of node and job state read here. They ignore their filter options
  (``-n``, ``-w``, ``-p``) and list every node and every job slurmctld remembers,
  finished ones included, so filtering happens here.
- When slurmctld does not answer, both exit 0 with an empty list and a non-empty
  ``errors`` array; ``scontrol`` exits 1 with "Unable to contact slurm controller".
- ``scontrol`` has no ``--json`` in 22.05: reservations are read with ``scontrol -o show
  reservation NAME`` (one ``Key=Value`` record per line, no free text in the keys read).
- A node's base ``state`` is idle/allocated/mixed/down/…; ``DRAIN`` is a flag. Drained
  means DRAIN with no job left (idle, or COMPLETING cleared); draining means DRAIN with jobs.
- A reservation over nodes whose jobs may still run at its start (no time limit, or a
  limit past the start) is refused ("Requested nodes are busy"); ``flags=maint`` marks it
  as maintenance and lets it overlap other reservations.

An answer in another shape raises UnexpectedOutputError naming the command and the
Slurm version (``scontrol --version``), never a guess.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.cluster_managers.port import (
    ClusterManagerError,
    ManagerUnreachableError,
    NodeCondition,
    NodeStatus,
    Reservation,
    ReservationRefusedError,
    UnexpectedOutputError,
)

LOG = logging.getLogger(__name__)
LIVE_JOB_STATES = frozenset({"PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED",
                             "STOPPED", "RESIZING", "REQUEUED"})
_HOLDING_STATES = LIVE_JOB_STATES - {"PENDING", "REQUEUED"}  # states that occupy a node
_DOWN_STATES = {"down", "error", "unknown", "future"}
_DOWN_FLAGS = {"NOT_RESPONDING", "FAIL", "POWERED_DOWN", "POWERING_DOWN", "REBOOT_REQUESTED",
               "REBOOT_ISSUED", "INVALID_REG", "POWER_DOWN"}
_UNREACHABLE = "Unable to contact slurm controller"
_TIMEOUT_S = 60.0


class SlurmManager:
    """Talks to one Slurm cluster through its client tools (``SLURM_CONF`` = `slurm_conf`)."""

    def __init__(self, slurm_conf: Path | None, partition: str | None = None) -> None:
        self.slurm_conf = slurm_conf
        self.partition = partition
        self._version: str | None = None

    # -- the port -------------------------------------------------------------

    def known_nodes(self) -> frozenset[str]:
        return frozenset(self._nodes())

    def status(self, names: Sequence[str]) -> dict[str, NodeStatus]:
        nodes = self._nodes()
        wanted = set(names)
        jobs: dict[str, list[int]] = {name: [] for name in wanted}
        for job in self._jobs():
            if job["job_state"] in _HOLDING_STATES:
                for host in self._hostnames(job["nodes"]):
                    if host in jobs:
                        jobs[host].append(job["job_id"])
        result = {}
        for name in names:
            raw = nodes.get(name)
            if raw is None:
                result[name] = NodeStatus(name, NodeCondition.DOWN, "unknown to Slurm")
                continue
            result[name] = _status(raw, tuple(sorted(jobs[name])))
        return result

    def drain(self, names: Sequence[str], reason: str) -> None:
        self._scontrol("update", f"nodename={','.join(names)}", "state=drain",
                       f"reason={reason}")

    def resume(self, names: Sequence[str]) -> None:
        self._scontrol("update", f"nodename={','.join(names)}", "state=resume")

    def cancel_jobs(self, name: str) -> None:
        self._run(["scancel", "--full", f"--nodelist={name}"])

    def reserve(self, name: str, nodes: Sequence[str], start: datetime,
                duration: timedelta) -> None:
        argv = ["create", "reservation", f"reservationname={name}",
                f"nodes={','.join(nodes)}", *_window(start, duration), "flags=maint",
                "users=root"]
        self._reservation_call(argv, f"Slurm refused reservation {name} for "
                                     f"{','.join(nodes)}")

    def reschedule(self, name: str, end: datetime, start: datetime | None = None) -> None:
        moved = [] if start is None else [f"starttime={_local(start)}"]
        self._reservation_call(["update", f"reservationname={name}", *moved,
                                f"endtime={_local(end)}"],
                               f"Slurm refused to move reservation {name}")

    def _reservation_call(self, argv: list[str], refused: str) -> None:
        done = self._run(["scontrol", *argv], check=False)
        message = (done.stderr or done.stdout).strip()
        if done.returncode != 0 and _UNREACHABLE in message:
            raise ManagerUnreachableError(f"scontrol {argv[0]} reservation: {message[:300]}")
        if done.returncode != 0:
            raise ReservationRefusedError(f"{refused}: {_slurm_message(message)}")

    def reservation(self, name: str) -> Reservation | None:
        done = self._run(["scontrol", "-o", "show", "reservation", name], check=False)
        if done.returncode != 0:
            if _UNREACHABLE in done.stderr:
                raise ManagerUnreachableError(f"scontrol show reservation: {done.stderr.strip()}")
            if "not found" in done.stderr + done.stdout:
                return None
            raise ClusterManagerError(f"scontrol show reservation {name} exited "
                                      f"{done.returncode}: {done.stderr.strip()[:300]}")
        fields = dict(token.split("=", 1) for token in done.stdout.split() if "=" in token)
        try:
            return Reservation(
                name=fields["ReservationName"],
                nodes=tuple(self._hostnames(fields["Nodes"])),
                start=datetime.fromisoformat(fields["StartTime"]).astimezone(),
                end=datetime.fromisoformat(fields["EndTime"]).astimezone(),
                active=fields["State"] == "ACTIVE")
        except (KeyError, ValueError) as exc:
            raise self._unexpected("scontrol -o show reservation", f"{exc}") from exc

    def release(self, name: str) -> None:
        done = self._run(["scontrol", "delete", f"reservationname={name}"], check=False)
        if done.returncode != 0 and self.reservation(name) is not None:
            raise ClusterManagerError(f"scontrol delete reservationname={name} exited "
                                      f"{done.returncode}: {done.stderr.strip()[:300]}")

    # -- Slurm's tools ----------------------------------------------------------

    def version(self) -> str:
        if self._version is None:
            done = self._run(["scontrol", "--version"], check=False)
            self._version = done.stdout.strip().split()[-1] if done.stdout.strip() else "unknown"
        return self._version

    def _nodes(self) -> dict[str, dict[str, Any]]:
        document = self._json(["sinfo", "--json"], "nodes")
        nodes = {}
        for raw in document:
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise self._unexpected("sinfo --json", "a node without a name")
            partitions = raw.get("partitions", [])
            if self.partition is None or self.partition in partitions:
                nodes[raw["name"]] = raw
        return nodes

    def _jobs(self) -> list[dict[str, Any]]:
        jobs = []
        for raw in self._json(["squeue", "--json"], "jobs"):
            if not (isinstance(raw, dict) and isinstance(raw.get("job_id"), int)
                    and isinstance(raw.get("job_state"), str)
                    and isinstance(raw.get("nodes"), str)):
                raise self._unexpected("squeue --json", "a job without job_id/job_state/nodes")
            jobs.append(raw)
        return jobs

    def _json(self, argv: list[str], key: str) -> list[Any]:
        command = " ".join(argv)
        done = self._run(argv)
        try:
            document = json.loads(done.stdout)
        except ValueError as exc:
            raise self._unexpected(command, "output is not JSON") from exc
        if not isinstance(document, dict) or not isinstance(document.get(key), list):
            raise self._unexpected(command, f"no {key!r} list")
        errors = document.get("errors") or []
        if errors:
            detail = "; ".join(str(e.get("description") or e.get("error") if isinstance(e, dict)
                                   else e) for e in errors)
            raise ManagerUnreachableError(f"{command} reported an error (is slurmctld "
                                          f"running?): {detail}")
        return list(document[key])

    def _scontrol(self, *argv: str) -> None:
        done = self._run(["scontrol", *argv], check=False)
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip()
            if _UNREACHABLE in message:
                raise ManagerUnreachableError(f"scontrol {argv[0]}: {message}")
            raise ClusterManagerError(f"scontrol {' '.join(argv[:2])} exited "
                                      f"{done.returncode}: {_slurm_message(message)[:300]}")

    def _hostnames(self, expression: str) -> list[str]:
        """Expand a Slurm hostlist ("n[1-3],m2") into names."""
        if not expression or expression == "(null)":
            return []
        if "[" not in expression:
            return expression.split(",")
        done = self._run(["scontrol", "show", "hostnames", expression])
        return done.stdout.split()

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if self.slurm_conf is not None:
            env["SLURM_CONF"] = str(self.slurm_conf)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env,
                                  timeout=_TIMEOUT_S, check=False)
        except FileNotFoundError as exc:
            raise ClusterManagerError(f"{argv[0]} is not installed on the gateway host "
                                      "(Slurm's client tools are needed)") from exc
        except subprocess.TimeoutExpired as exc:
            raise ManagerUnreachableError(f"{' '.join(argv[:2])} did not answer within "
                                          f"{_TIMEOUT_S:.0f} s") from exc
        if check and done.returncode != 0:
            message = (done.stderr or done.stdout).strip()
            if _UNREACHABLE in message:
                raise ManagerUnreachableError(f"{' '.join(argv[:2])}: {message[:300]}")
            raise ClusterManagerError(f"{' '.join(argv[:2])} exited {done.returncode}: "
                                      f"{message[:300]}")
        return done

    def _unexpected(self, command: str, what: str) -> UnexpectedOutputError:
        return UnexpectedOutputError(f"{command}: unexpected output from Slurm "
                                     f"{self.version()} ({what}); this adapter reads the "
                                     "Slurm 22.05 shapes (docs/cluster-managers.md)")


def _status(raw: dict[str, Any], jobs: tuple[int, ...]) -> NodeStatus:
    state, flags = raw.get("state"), raw.get("state_flags", [])
    if not isinstance(state, str) or not isinstance(flags, list):
        raise UnexpectedOutputError(f"sinfo --json: node {raw.get('name')} has no state")
    reason = str(raw.get("reason") or "")
    flag_set = {str(f) for f in flags}
    if state in _DOWN_STATES or flag_set & _DOWN_FLAGS:
        condition = NodeCondition.DOWN
    elif "DRAIN" in flag_set:
        busy = jobs or state in ("allocated", "mixed") or "COMPLETING" in flag_set
        condition = NodeCondition.DRAINING if busy else NodeCondition.DRAINED
    else:
        condition = NodeCondition.IN_SERVICE
    return NodeStatus(raw["name"], condition, reason, jobs, "MAINTENANCE" in flag_set
                      or "RESERVED" in flag_set)


def _window(start: datetime, duration: timedelta) -> list[str]:
    """starttime= and duration= of a reservation: Slurm reads local time, whole seconds,
    and a window shorter than a minute is refused."""
    seconds = max(60, int(duration.total_seconds()))
    return [f"starttime={_local(start)}",
            f"duration={seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"]


def _local(moment: datetime) -> str:
    return moment.astimezone().replace(tzinfo=None, microsecond=0).isoformat()


def _slurm_message(text: str) -> str:
    """Slurm's own words from an scontrol error ("Error creating the reservation: X")."""
    match = re.search(r"(?:error|Error)[^:]*:\s*(.+)", text)
    return match[1].strip() if match else text
