"""In a fleet, each member makes ready the BMCs of an open campaign before their turn.

Alone, a gateway's campaign inventory logs in to every BMC and subscribes it to the
gateway's events, so a node's first step finds both done. In a fleet the gateway that
drives a node is chosen only when the node is admitted (Membership.assign), so the
driver logged in and subscribed at the node's first step: up to five Redfish requests
(the service root, the login, the EventService, its Subscriptions, the POST) in every
wave's burst, when every node of the wave starts at once (docs/performance.md,
"Eleventh session").

Instead every member, once it sees an open campaign of one of its clusters (it reads
them every few seconds to copy their images from its peers: peer_images.py), logs in to
each BMC of it whose node is still waiting and subscribes it to its own events, a few
BMCs at a time on a background thread, between the waves' bursts. Every BMC
of the campaign then pushes its events to every live member; a member keeps those of
a node it does not drive (a few per node) and wakes nothing for them, and has them if
the node becomes its own (a member's death). Subscriptions of members gone for good
are removed on the way, as at a first step (inventory.subscribe). A node whose BMC
does not answer now is left to its first step, which subscribes it as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from gateway.domain import NodeStep
from gateway.orchestrator.client_pool import ClientPool
from gateway.orchestrator.inventory import EventDestination, subscribe
from gateway.orchestrator.settings import ClusterSettings
from gateway.redfish import RedfishError
from gateway.store.campaign_records import CampaignRecord
from gateway.store.campaigns import CampaignStore

LOG = logging.getLogger(__name__)
# BMCs made ready at once: a large cluster should be ready before its first wave after
# the canaries, and the warm-up should not crowd out the canaries' own steps.
WORKERS = 4


class FleetWarmup:
    """The background warm-up above; ``warm`` is given the open campaigns whenever a
    member of a fleet reads them (wiring.share_images: the same read, no more)."""

    def __init__(self, store: CampaignStore, clusters: dict[str, ClusterSettings],
                 clients: ClientPool, events: EventDestination | None,
                 stopped: Callable[[], bool]) -> None:
        self.store = store
        self.clusters = clusters
        self.clients = clients
        self.events = events
        self.stopped = stopped
        self._warmed: set[str] = set()  # campaigns whose waiting nodes were made ready
        self._thread: threading.Thread | None = None

    def warm(self, campaigns: Iterable[CampaignRecord]) -> None:
        """Start making ready the waiting nodes of the open ``campaigns`` of this
        gateway's clusters not made ready yet (one thread at a time; without an events
        receiver there is nothing to subscribe, and the first steps log in)."""
        if self.events is None or (self._thread is not None and self._thread.is_alive()):
            return
        due = [(c.id, c.cluster) for c in campaigns
               if c.cluster in self.clusters and c.id not in self._warmed]
        if due:
            self._thread = threading.Thread(target=self._warm, args=(due,),
                                            name="fleet-warmup", daemon=True)
            self._thread.start()

    def _warm(self, due: list[tuple[str, str]]) -> None:
        try:
            for campaign_id, cluster in due:
                began = time.monotonic()
                waiting = [node for node, step, *_ in self.store.run_states(campaign_id)
                           if step == NodeStep.PENDING.value]
                with ThreadPoolExecutor(WORKERS, thread_name_prefix="fleet-warmup") as pool:
                    made = sum(pool.map(partial(self._ready, self.clusters[cluster]),
                                        waiting))
                if self.stopped():
                    return
                self._warmed.add(campaign_id)
                LOG.info("campaign %s: %d of its %d waiting nodes' BMCs made ready for this "
                         "gateway (logged in, pushing their events here) in %.1f s",
                         campaign_id, made, len(waiting), time.monotonic() - began)
        except Exception:  # a background thread must log, never die silently
            LOG.exception("making a campaign's BMCs ready failed; their nodes' first "
                          "steps will do it")

    def _ready(self, cluster: ClusterSettings, node_id: str) -> bool:
        """Log in to the node's BMC and subscribe it (a no-op once done here)."""
        endpoint = cluster.endpoints.get(node_id)
        assert self.events is not None
        if endpoint is None or self.stopped() or self.clients.pushes_events(node_id):
            return False
        try:
            with self.clients.node_lock(node_id):  # not beside the node's first step
                subscribe(self.clients.get(endpoint), node_id, self.events)
        except RedfishError as exc:
            LOG.info("node %s: not made ready ahead of its turn: %s", node_id, exc)
            return False
        return self.clients.pushes_events(node_id)
