"""The cluster-manager port: what the gateway asks of the scheduler that runs a cluster's jobs.

A cluster manager (Slurm today; Pacemaker or Kubernetes later, see
docs/cluster-managers.md) answers which nodes may be taken away now, takes nodes out
of service without killing their work (a drain, or a maintenance reservation booked
ahead), and returns them. The gateway only ever resumes nodes it drained itself: a
drain carries a reason naming the campaign (``drain_reason``), and the gateway keeps
its own crash-safe record of what it drained (gateway/cluster_managers/ledger.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

REASON_PREFIX = "fleetflash"


def drain_reason(campaign: str) -> str:
    """The reason string of the gateway's drains: ``sinfo -R`` shows the operator why
    (its default column is 20 characters wide, hence the campaign first)."""
    return f"{REASON_PREFIX} {campaign}: firmware update"


class ClusterManagerError(Exception):
    """Root of the cluster-manager errors; the message names the command and the problem."""


class ManagerUnreachableError(ClusterManagerError):
    """The manager does not answer (slurmctld down): nothing new may start."""


class UnexpectedOutputError(ClusterManagerError):
    """The manager answered in a shape this adapter does not know (another version)."""


class ReservationRefusedError(ClusterManagerError):
    """The manager refused a reservation; the message is the manager's own."""


class Mode(StrEnum):
    RESERVATION = "reservation"
    DRAIN = "drain"


class OnTimeout(StrEnum):
    """What a drain does when max_wait_s passes with jobs still running."""

    SKIP = "skip"      # resume the node and leave it for a later wave (the default)
    CANCEL = "cancel"  # cancel the node's jobs (explicit policy only)


class NodeCondition(StrEnum):
    """A node as the cluster manager sees it."""

    IN_SERVICE = "in_service"  # up and schedulable (idle or running jobs)
    DRAINING = "draining"      # drain requested, jobs still running
    DRAINED = "drained"        # drained and empty
    DOWN = "down"              # down, failing, not responding, or unknown


@dataclass(frozen=True)
class NodeStatus:
    """One node: ``name`` is the manager's name; ``reason`` the drain/down reason;
    ``jobs`` the ids of jobs that still hold it."""

    name: str
    condition: NodeCondition
    reason: str = ""
    jobs: tuple[int, ...] = ()
    in_reservation: bool = False

    def drained_by(self, campaign: str) -> bool:
        """Out of service with the reason the gateway gives for `campaign` (a drained
        node that stops responding is still the gateway's drain)."""
        return (self.condition is not NodeCondition.IN_SERVICE
                and self.reason == drain_reason(campaign))

    @property
    def drained_by_gateway(self) -> bool:
        return self.reason.startswith(f"{REASON_PREFIX} ") and self.reason.endswith(
            ": firmware update")


@dataclass(frozen=True)
class Reservation:
    name: str
    nodes: tuple[str, ...]
    start: datetime
    end: datetime
    active: bool


@dataclass(frozen=True)
class ManagerSettings:
    """A cluster's ``[clusters.cluster_manager]`` table (docs/configuration.md).

    ``node_names``: gateway node id -> the manager's node name (default: the node id).
    ``max_wait_s``: how long a drain waits for running jobs. ``partition``: only nodes
    of this partition are managed.
    """

    manager: str
    slurm_conf: Path | None = None
    node_names: Mapping[str, str] = field(default_factory=dict)
    mode: Mode = Mode.DRAIN
    max_wait_s: float = 300.0
    on_timeout: OnTimeout = OnTimeout.SKIP
    partition: str | None = None

    def name_of(self, node: str) -> str:
        return self.node_names.get(node, node)


class ClusterManager(Protocol):
    """What the gateway needs from a cluster manager. Every method raises
    ManagerUnreachableError when the manager does not answer and UnexpectedOutputError
    when it answers in an unknown shape; the gateway then assumes no node is free."""

    def known_nodes(self) -> frozenset[str]:
        """Every node name the manager knows (within the partition filter)."""
        ...

    def status(self, names: Sequence[str]) -> dict[str, NodeStatus]:
        """The state of `names` (a name the manager does not know is DOWN)."""
        ...

    def drain(self, names: Sequence[str], reason: str) -> None: ...

    def resume(self, names: Sequence[str]) -> None: ...

    def cancel_jobs(self, name: str) -> None: ...

    def reserve(self, name: str, nodes: Sequence[str], start: datetime,
                duration: timedelta) -> None:
        """Book a maintenance window; ReservationRefusedError with the manager's message."""
        ...

    def reschedule(self, name: str, end: datetime, start: datetime | None = None) -> None:
        """Move a reservation's end (and its start, when given);
        ReservationRefusedError with the manager's message."""
        ...

    def reservation(self, name: str) -> Reservation | None: ...

    def release(self, name: str) -> None:
        """Delete the reservation (nothing when it is already gone)."""
        ...
