"""BMCs registered while the gateway runs join the running fleet.

The BMC registry (gateway/store/bmc_registry.py) is written by `fleetflash bmcs
import|add` (another process), by POST /api/bmcs:import and by any gateway sharing the
database. The orchestrator polls the registry's stamp (count and newest change, one
small query); when it moved, the registry is read again, validated exactly as at
start-up (gateway/cluster_config.load_clusters), and every added or changed entry is
put into the live cluster map that the scheduler, the campaign creator and the API
share. So an imported BMC is inventoried and updatable without a restart.

What waits for the next start, and is logged once as such: a removal (a node may be in
an open campaign's runs, which must keep its endpoint until they end), an entry that
moves a node to another cluster, and an entry for a cluster this gateway does not run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from gateway.cluster_config import load_clusters
from gateway.config import ConfigError, GatewayConfig
from gateway.domain import InvalidClusterError
from gateway.orchestrator.settings import ClusterSettings
from gateway.store import StoreError
from gateway.store.bmc_registry import BmcRegistry

LOG = logging.getLogger("gateway.orchestrator")


class RegistrySync:
    """Keeps `clusters` (the orchestrator's live map) in step with the BMC registry."""

    def __init__(self, config: GatewayConfig, registry: BmcRegistry,
                 clusters: dict[str, ClusterSettings]) -> None:
        self.config = config
        self.registry = registry
        self.clusters = clusters
        self._lock = threading.Lock()
        self._stamp: tuple[int, datetime | None] | None = None
        self._deferred: set[str] = set()  # already logged as waiting for a restart
        self._known: set[str] = set()  # registry names seen so far

    def prime(self, stamp: tuple[int, datetime | None],
              entries: Sequence[Mapping[str, Any]]) -> None:
        """Start from the registry as read at start-up (`stamp` taken before `entries`)."""
        self._stamp = stamp
        self._known = {str(e["name"]) for e in entries}

    def poll(self) -> list[str]:
        """Join what changed in the registry since the last call; returns the node ids
        that joined or changed. Never raises for a bad registry: it is logged and the
        live fleet stays as it was."""
        with self._lock:
            try:
                stamp = self.registry.stamp()
                if stamp == self._stamp:
                    return []
                entries = self.registry.entries()
            except StoreError as exc:
                LOG.warning("could not read the BMC registry: %s", exc)
                return []
            try:
                fresh = load_clusters(self.config, entries)
            except ConfigError as exc:
                LOG.error("the BMC registry does not load (%s); registered BMCs join at the "
                          "next start once it does", exc)
                self._stamp = stamp
                return []
            self._stamp = stamp
            return self._merge(fresh, {str(e["name"]) for e in entries})

    def _merge(self, fresh: tuple[ClusterSettings, ...], registered: set[str]) -> list[str]:
        joined = []
        where = {node: name for name, live in self.clusters.items() for node in live.endpoints}
        for settings in fresh:
            for node_id in sorted(registered & set(settings.endpoints)):
                endpoint = settings.endpoints[node_id]
                spec = settings.cluster.node(node_id)
                live = self.clusters.get(settings.name)
                home = where.get(node_id)
                if live is None or (home is not None and home != settings.name):
                    self._defer(node_id, f"moves to cluster {settings.name!r}" if live
                                else f"is in cluster {settings.name!r}, not run here")
                    continue
                if (live.endpoints.get(node_id) == endpoint and live.cluster.has_node(node_id)
                        and live.cluster.node(node_id) == spec):
                    continue
                try:
                    self.clusters[settings.name] = live.with_node(spec, endpoint)
                except InvalidClusterError as exc:
                    self._defer(node_id, f"cannot join: {exc}")
                    continue
                joined.append(node_id)
        for node_id in sorted((self._known - registered) & set(where)):
            self._defer(node_id, "was removed from the registry")
        self._known |= registered
        if joined:
            LOG.info("BMC registry: %s joined the running fleet", ", ".join(joined))
        return joined

    def _defer(self, node_id: str, why: str) -> None:
        message = f"{node_id} {why}"
        if message not in self._deferred:
            self._deferred.add(message)
            LOG.warning("BMC registry: %s; that takes effect at the next start", message)
