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
from typing import Any

from gateway.cluster_managers.port import (
    ClusterManager,
    ClusterManagerError,
    ManagerSettings,
    ManagerUnreachableError,
    Mode,
    OnTimeout,
)
from gateway.cluster_managers.slurm import SlurmManager
from gateway.config import ConfigError, check_known_keys, parse_enum

LOG = logging.getLogger(__name__)
_KEYS = {"manager", "slurm_conf", "mode", "max_wait_s", "on_timeout", "partition", "node_names"}
MANAGERS = ("slurm",)


def parse_manager(raw: Any, where: str, base: Path) -> ManagerSettings:
    """Validate the table's shape (no Slurm call). Raises ConfigError naming the key."""
    where = f"{where} cluster_manager"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_known_keys(where, raw, _KEYS)
    manager = raw.get("manager")
    if manager not in MANAGERS:
        raise ConfigError(f"{where}: manager must be one of {', '.join(MANAGERS)} "
                          f"(got {manager!r})")
    conf: Path | None = None
    if "slurm_conf" in raw:
        if not isinstance(raw["slurm_conf"], str) or not raw["slurm_conf"]:
            raise ConfigError(f"{where}: slurm_conf must be a path")
        conf = Path(raw["slurm_conf"]).expanduser()
        conf = conf if conf.is_absolute() else base / conf
        if not conf.is_file():
            raise ConfigError(f"{where}: slurm_conf {conf} does not exist")
    names = raw.get("node_names", {})
    if not isinstance(names, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in names.items()):
        raise ConfigError(f"{where}: node_names must be a table of node id = \"slurm name\"")
    wait = raw.get("max_wait_s", 300.0)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or wait <= 0:
        raise ConfigError(f"{where}: max_wait_s must be a positive number")
    partition = raw.get("partition")
    if partition is not None and (not isinstance(partition, str) or not partition):
        raise ConfigError(f"{where}: partition must be a non-empty string")
    mode = parse_enum(Mode, raw.get("mode", "drain"), f"{where} mode")
    return ManagerSettings(manager=manager, slurm_conf=conf, node_names=dict(names),
                           mode=mode,
                           max_wait_s=float(wait), partition=partition,
                           on_timeout=parse_enum(OnTimeout, raw.get("on_timeout", "skip"),
                                            f"{where} on_timeout"))


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
