"""The ``cluster_manager`` table of a ``[[clusters]]`` entry (docs/configuration.md).

    [clusters.cluster_manager]
    manager = "slurm"
    slurm_conf = "/etc/slurm/slurm.conf"   # default: Slurm's own lookup
    mode = "drain"                          # or "reservation": one maintenance reservation per wave
    max_wait_s = 300                        # how long a drain waits (< the drain step timeout)
    on_timeout = "skip"                     # or "cancel" (cancels the node's jobs)
    partition = "batch"                     # optional: only nodes of this partition
    node_names = { node-01 = "cn001" }      # gateway node id -> Slurm name

Node names are checked against Slurm when the configuration is loaded: a name Slurm
does not know is a ConfigError naming it. When slurmctld does not answer at load time
the check is left to the scheduler, which starts no node of the cluster until it does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from gateway.cluster_managers.port import (
    ClusterManager,
    ClusterManagerError,
    ManagerSettings,
    ManagerUnreachableError,
)
from gateway.cluster_managers.slurm import SlurmManager
from gateway.cluster_model import MANAGERS, ManagerTable
from gateway.config import ConfigError

LOG = logging.getLogger(__name__)
__all__ = ["MANAGERS", "check_node_names", "connect", "parse_manager"]


def parse_manager(table: ManagerTable, where: str, base: Path) -> ManagerSettings:
    """The settings of a validated table (no Slurm call); ConfigError when slurm_conf
    does not exist."""
    conf: Path | None = None
    if table.slurm_conf is not None:
        conf = Path(table.slurm_conf).expanduser()
        conf = conf if conf.is_absolute() else base / conf
        if not conf.is_file():
            raise ConfigError(f"{where} cluster_manager: slurm_conf {conf} does not exist")
    return ManagerSettings(manager=table.manager, slurm_conf=conf,
                           node_names=dict(table.node_names), mode=table.mode,
                           max_wait_s=table.max_wait_s, partition=table.partition,
                           on_timeout=table.on_timeout)


def connect(settings: ManagerSettings) -> ClusterManager:
    """The adapter for `settings.manager`."""
    return SlurmManager(settings.slurm_conf, settings.partition)


def check_node_names(settings: ManagerSettings, node_ids: Iterable[str], where: str,
                     manager: ClusterManager | None = None) -> None:
    """ConfigError naming every node the manager does not know (a mapping to a node id
    the cluster does not have is an error too)."""
    ids = set(node_ids)
    stray = sorted(set(settings.node_names) - ids)
    if stray:
        raise ConfigError(f"{where} cluster_manager node_names: not nodes of this cluster: "
                          f"{', '.join(stray)}")
    manager = manager or connect(settings)
    try:
        known = manager.known_nodes()
    except ManagerUnreachableError as exc:
        LOG.warning("%s: node names not checked, Slurm does not answer: %s", where, exc)
        return
    except ClusterManagerError as exc:
        raise ConfigError(f"{where} cluster_manager: {exc}") from exc
    unknown = sorted(f"{settings.name_of(n)}" + (f" (node {n})" if settings.name_of(n) != n
                                                  else "")
                     for n in ids if settings.name_of(n) not in known)
    if unknown:
        scope = f" in partition {settings.partition}" if settings.partition else ""
        raise ConfigError(f"{where}: Slurm does not know node(s){scope}: {', '.join(unknown)}")
