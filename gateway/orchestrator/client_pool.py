"""One cached BMC client per node, and what each node's BMC revealed (its URIs).

A node's client is cached while the node is being driven and dropped after any
error, because a BMC that restarted (a BMC firmware update) has forgotten our
Redfish session and answers 401 to it. What a BMC revealed is kept longer, but not
trusted blindly: a BMC that stopped answering and came back with another identity
(service root UUID or Manager FirmwareVersion), or that refused a URI it had given,
is discovered again from its service root (docs/interop.md, "reshaped-by-bmc-update").
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from gateway.orchestrator.bmc import FleetBmcClient, identity_change
from gateway.redfish import BmcEndpoint, NotSupportedError, RedfishError
from gateway.redfish.errors import BmcUnreachableError, ResourceMissingError

LOG = logging.getLogger(__name__)
REFUSED = "refused"  # known["events"] of a BMC that cannot push events (it is polled)


class ClientPool:
    """One cached client per node; thread-safe. ``get`` connects on first use.

    The Redfish URIs a node's BMC revealed (system, virtual CD, FirmwareInventory
    members) outlive its clients and campaigns: they are stable, a stale one is
    rediscovered, and each saves a walk from the service root. The campaign's
    inventory uses the pool too, so a node's first step finds its session open and
    its URIs known."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, FleetBmcClient] = {}
        self._known: dict[str, dict[str, Any]] = {}  # node -> URIs its BMC revealed
        self._guards: dict[str, Callable[[], None]] = {}  # node -> fencing check
        # Nodes whose BMC stopped answering (a restart, perhaps into new firmware): their
        # next client compares the BMC's identity with the inventory's (see get).
        self._unanswered: set[str] = set()
        # Nodes discovered again whose stored capabilities are to be read afresh.
        self._stale: set[str] = set()
        self._in_step: set[str] = set()  # nodes whose step is running (step_begins)
        self._node_locks: dict[str, threading.RLock] = {}

    def node_lock(self, node_id: str) -> threading.RLock:
        """Held while connecting to the node's BMC (``get``) and while subscribing it:
        two threads (a node's step, the idle nodes' refresh) never log in twice or make
        two subscriptions for one node. Re-entrant: a holder may call ``get``."""
        with self._lock:
            return self._node_locks.setdefault(node_id, threading.RLock())

    def set_guard(self, node_id: str, guard: Callable[[], None]) -> None:
        """Check `guard` before each BMC-changing request to the node (from now on)."""
        with self._lock:
            self._guards[node_id] = guard
            client = self._clients.get(node_id)
        if client is not None:
            client.guard = guard

    def step_begins(self, node_id: str) -> None:
        """A step of the node begins: its client reads the system afresh, then at most
        once until step_ends (FleetBmcClient.step_begins)."""
        self._mark_step(node_id, True)

    def step_ends(self, node_id: str) -> None:
        self._mark_step(node_id, False)

    def _mark_step(self, node_id: str, running: bool) -> None:
        with self._lock:
            if running:
                self._in_step.add(node_id)
            else:
                self._in_step.discard(node_id)
            client = self._clients.get(node_id)
        if client is not None and running:
            client.step_begins()
        elif client is not None:
            client.step_ends()

    def pushes_events(self, node_id: str) -> bool:
        """Whether the node's BMC was subscribed to push its events to this gateway."""
        with self._lock:
            value = self._known.get(node_id, {}).get("events")
        return bool(value) and value != REFUSED

    def forget_events(self) -> None:
        """Forget which BMCs were subscribed to this gateway (not those that refused):
        the next subscription of each is made sure of on the BMC again. Called when
        this gateway was silent long enough to be taken for dead, since another member
        may have removed its subscriptions then."""
        with self._lock:
            for known in self._known.values():
                if known.get("events") not in (None, REFUSED):
                    del known["events"]

    def forget(self, node_id: str) -> None:
        """Drop the node's client (the node is finished); its URIs are kept."""
        self.drop(node_id)

    def get(self, endpoint: BmcEndpoint) -> FleetBmcClient:
        """The node's client, connecting (and logging in) if needed. Raises RedfishError."""
        with self._lock:
            client = self._clients.get(endpoint.name)
        if client is not None:
            return client
        with self.node_lock(endpoint.name):
            with self._lock:  # another thread may have connected while this one waited
                client = self._clients.get(endpoint.name)
            return client if client is not None else self._connect(endpoint)

    def _connect(self, endpoint: BmcEndpoint) -> FleetBmcClient:
        with self._lock:
            known = self._known.setdefault(endpoint.name, {})
            restarted = endpoint.name in self._unanswered
        if restarted:
            knock(endpoint)  # still down: refused before a client and login are built
        client = FleetBmcClient.connect(endpoint, known)
        changed = self._reidentified(client, known) if restarted else None
        with self._lock:
            self._unanswered.discard(endpoint.name)
            if changed is not None:
                self._forget_shape(endpoint.name)
                known["identity"] = changed[1]  # compared at the next silence
            client.guard = self._guards.get(endpoint.name)
            if endpoint.name in self._in_step:
                client.step_begins()  # made during a step
            self._clients[endpoint.name] = client
        if changed is not None:
            LOG.info("node %s: its BMC answers again after not answering, and %s; "
                     "discovered again from the service root", endpoint.name, changed[0])
        return client

    @staticmethod
    def _reidentified(client: FleetBmcClient, known: dict[str, Any]
                      ) -> tuple[str, dict[str, str]] | None:
        """(why, identity now) when the BMC that answers again is not the one inventoried
        (its own firmware update), None when it only stopped answering for a while (its
        remembered URIs still hold). Raises RedfishError (the client closed)."""
        try:
            now = client.identity()
        except RedfishError:
            client.close()
            raise
        why = identity_change(known.get("identity"), now)
        return None if why is None else (why, now)

    def drop(self, node_id: str, error: RedfishError | None = None) -> None:
        """Forget (and log out of) the node's client, e.g. after an error or when done.
        ``error``: why; a BMC that gave no answer at all may be restarting, perhaps into
        firmware of another shape, and is discovered again once it answers."""
        with self._lock:
            client = self._clients.pop(node_id, None)
            if error is not None and error.status is None and error.transient:
                self._unanswered.add(node_id)
        if client is not None:
            client.close()

    def rediscover(self, node_id: str, why: str) -> None:
        """Forget what the node's BMC revealed (URIs, learnt habits, capabilities) and its
        client: its next client walks from the service root again (docs/interop.md,
        "reshaped-by-bmc-update"). The event subscription is the BMC's, and is kept."""
        LOG.info("node %s: %s; its BMC is discovered again from the service root",
                 node_id, why)
        with self._lock:
            self._forget_shape(node_id)
        self.drop(node_id)

    def _forget_shape(self, node_id: str) -> None:
        known = self._known.get(node_id)
        if known is not None:
            events = known.get("events")
            known.clear()  # in place: a client still holding it sees the change
            if events is not None:
                known["events"] = events
        self._stale.add(node_id)

    def capabilities_stale(self, node_id: str) -> bool:
        """True once the node was discovered again and its capabilities not yet read."""
        with self._lock:
            return node_id in self._stale

    def capabilities_read(self, node_id: str) -> None:
        with self._lock:
            self._stale.discard(node_id)

    def close_all(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()


def knock(endpoint: BmcEndpoint) -> None:
    """Raise BmcUnreachableError unless the BMC's port takes a TCP connection (closed at
    once). A BMC restarting refuses connections for seconds to minutes, and each look
    at it would otherwise build a client and attempt a login to learn that (about 50
    times this CPU); a BMC that takes the connection is connected to as usual."""
    parts = urlsplit(endpoint.url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=endpoint.timeout).close()
    except OSError as exc:
        raise BmcUnreachableError(
            f"connecting to BMC {endpoint.name}: no answer from the BMC ({exc})") from exc


def stale_shape(error: RedfishError) -> bool:
    """True for what a BMC answers to a URI or capability it no longer has: 404, 405,
    or a capability it no longer advertises."""
    return isinstance(error, ResourceMissingError | NotSupportedError) or error.status == 405


__all__ = ["REFUSED", "ClientPool", "stale_shape"]
