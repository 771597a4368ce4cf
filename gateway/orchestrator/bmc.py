"""BMC access for node workers: the Redfish client plus task listing, and a small pool.

A node's client is cached while the node is being driven and dropped after any
error, because a BMC that restarted (a BMC firmware update) has forgotten our
Redfish session and answers 401 to it.
"""

from __future__ import annotations

import logging
import threading

from gateway.domain import PowerState
from gateway.redfish import BmcClient, BmcEndpoint, RedfishError, systems
from gateway.redfish.common import link, member_links
from gateway.redfish.errors import translated

LOG = logging.getLogger(__name__)


class FleetBmcClient(BmcClient):
    """BmcClient plus the reads the executor needs to resume after a crash, and a cheap
    version read for polling (the member URIs of FirmwareInventory are remembered)."""

    _members: list[str] | None = None

    def component_versions(self) -> dict[str, str]:
        """Component name -> installed version, one GET per FirmwareInventory member once
        the members are known. Raises RedfishError."""
        if self._members is None:
            service = self._update_service()
            inventory_uri = link(service, "FirmwareInventory")
            if inventory_uri is None:
                return self.firmware_versions()
            with translated("reading FirmwareInventory"):
                self._members = member_links(self._conn.get(inventory_uri).json())
        versions: dict[str, str] = {}
        try:
            with translated("reading FirmwareInventory"):
                for uri in self._members:
                    body = self._conn.get(uri).json()
                    versions[str(body["Id"])] = str(body.get("Version") or "")
        except RedfishError:
            self._members = None  # members may have moved (e.g. after a BMC restart)
            raise
        return versions

    @classmethod
    def connect(cls, endpoint: BmcEndpoint) -> FleetBmcClient:
        base = BmcClient.connect(endpoint)
        return cls(base.endpoint, base._root)

    def power_state(self) -> PowerState:
        """The host's PowerState, from one read of the system (cheaper than inventory)."""
        return self.health().power_state

    def health(self) -> systems.SystemFacts:
        """Model, power state and Status.Health of the host: one read of the system."""
        return systems.facts_of(systems.find_system(self._root))


class ClientPool:
    """One cached client per node; thread-safe. ``get`` connects on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, FleetBmcClient] = {}

    def get(self, endpoint: BmcEndpoint) -> FleetBmcClient:
        """The node's client, connecting (and logging in) if needed. Raises RedfishError."""
        with self._lock:
            client = self._clients.get(endpoint.name)
        if client is not None:
            return client
        client = FleetBmcClient.connect(endpoint)
        with self._lock:
            self._clients[endpoint.name] = client
        return client

    def drop(self, node_id: str) -> None:
        """Forget (and log out of) the node's client, e.g. after an error or when done."""
        with self._lock:
            client = self._clients.pop(node_id, None)
        if client is not None:
            client.close()

    def close_all(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()


__all__ = ["ClientPool", "FleetBmcClient", "RedfishError"]
