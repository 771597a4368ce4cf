"""Cluster managers: the scheduler that runs a cluster's jobs, asked before a node is taken.

port.py is the interface and its errors, slurm.py the Slurm adapter, config.py the
per-cluster configuration, availability.py and steps.py what the orchestrator does
with them. See docs/cluster-managers.md.
"""

from gateway.cluster_managers.port import (
    ClusterManager,
    ClusterManagerError,
    ManagerSettings,
    ManagerUnreachableError,
    Mode,
    NodeCondition,
    NodeStatus,
    OnTimeout,
    Reservation,
    ReservationRefusedError,
    UnexpectedOutputError,
    drain_reason,
)
from gateway.cluster_managers.slurm import SlurmManager

__all__ = ["ClusterManager", "ClusterManagerError", "ManagerSettings",
           "ManagerUnreachableError", "Mode", "NodeCondition", "NodeStatus", "OnTimeout",
           "Reservation", "ReservationRefusedError", "SlurmManager", "UnexpectedOutputError",
           "drain_reason"]
