"""What the cluster manager says about availability, folded into the scheduler's health map.

A node Slurm reports down, failing, not responding, or drained by anyone but this
campaign counts against its group's allowance exactly like a node whose BMC is down,
and is not started: an operator's drain is left alone. When the manager does not
answer, nothing of the cluster starts (nodes in flight carry on): the gateway never
assumes a node is free. See docs/cluster-managers.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from gateway.cluster_managers import ClusterManagerError, NodeCondition, NodeStatus
from gateway.cluster_managers.config import connect
from gateway.domain import Health
from gateway.orchestrator.settings import ClusterSettings

LOG = logging.getLogger(__name__)
# The note on a waiting node's run while the manager cannot tell (Scheduler._note_manager).
MANAGER_NOTE = "not started: the cluster manager cannot tell which nodes are free"
# The scheduler ticks every tick_s (0.5 s): one sinfo/squeue pair per cluster per
# this many seconds is enough, a node's state in Slurm changes on job boundaries.
CACHE_S = 2.0
# sinfo takes seconds to give up on an unreachable slurmctld: asked again only this often,
# so the scheduler's tick (and the clusters behind it) is not held up every time.
RETRY_S = 10.0


class ManagerView:
    """Per-cluster cache of the manager's node states (shared by scheduler ticks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, dict[str, NodeStatus]]] = {}
        self._failed_at: dict[str, float] = {}
        self.problem: dict[str, str] = {}  # cluster -> why nothing starts (manager error)

    def statuses(self, settings: ClusterSettings) -> dict[str, NodeStatus] | None:
        """Node id -> the manager's status, or None when the manager cannot tell."""
        manager = settings.manager
        if manager is None:
            return {}
        with self._lock:
            cached = self._cache.get(settings.name)
            if cached and time.monotonic() - cached[0] < CACHE_S:
                return cached[1]
            if time.monotonic() - self._failed_at.get(settings.name, -RETRY_S) < RETRY_S:
                return None
        ids = settings.cluster.node_ids()
        try:
            by_name = connect(manager).status([manager.name_of(n) for n in ids])
        except ClusterManagerError as exc:
            if self.problem.get(settings.name) != str(exc):
                LOG.error("cluster %s: no node starts, its cluster manager cannot tell which "
                          "nodes are free: %s", settings.name, exc)
            with self._lock:
                self.problem[settings.name] = str(exc)
                self._failed_at[settings.name] = time.monotonic()
            return None
        self.problem.pop(settings.name, None)
        result = {node: by_name[manager.name_of(node)] for node in ids}
        with self._lock:
            self._cache[settings.name] = (time.monotonic(), result)
        return result


def with_manager(health: Mapping[str, Health], statuses: Mapping[str, NodeStatus],
                 campaign: str) -> dict[str, Health]:
    """`health` with every node the manager holds out of service turned DOWN (nodes this
    campaign drained itself keep their BMC health: their runs already count)."""
    result = dict(health)
    for node, status in statuses.items():
        ours = status.drained_by(campaign)
        if status.condition is not NodeCondition.IN_SERVICE and not ours:
            result[node] = Health.DOWN
    return result
