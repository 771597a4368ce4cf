"""Reading every registered BMC and deciding what the image means for each node.

Inventory runs in parallel (a thread pool); a BMC that cannot be read is
recorded with its error and left out of the campaign (nothing is known about
it, so nothing is done to it). Applicability comes from
firmware_payloads.explain_applicability on the discovered model and versions:
the gateway is never told a node's model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

from firmware_payloads import BundleError, Manifest, explain_applicability
from gateway.domain import Applicability, Health, NodeInventory, NodeTarget
from gateway.domain.applicability import target_from_decisions
from gateway.orchestrator.bmc import FleetBmcClient
from gateway.orchestrator.client_pool import REFUSED, ClientPool
from gateway.redfish import BmcEndpoint, RedfishError
from gateway.redfish.fallback import FIRMWARE_INVENTORY
from gateway.store import utcnow
from gateway.store.campaign_records import ManagedNode
from gateway.store.campaigns import CampaignStore

LOG = logging.getLogger(__name__)


NO_MODEL_NOTE = ("the BMC reports no ComputerSystem.Model, so no package can be matched "
                 "to this host")


@dataclass(frozen=True)
class NodeApplicability:
    """The image on one node: the planner's target, the package ids and component
    versions to reach (dependency order), and one line per package decision.
    ``other_model``: the image has no package for the node's model at all."""

    target: NodeTarget
    packages: tuple[str, ...]
    versions: dict[str, str]
    reasons: tuple[str, ...]
    other_model: bool = False


def applicability(manifest: Manifest, model: str, installed: dict[str, str],
                  version_source: str = FIRMWARE_INVENTORY, *,
                  allow_downgrade: bool = False) -> NodeApplicability:
    """Decide what ``manifest`` means for a node of ``model`` with ``installed`` versions.

    UPDATE when at least one package applies; UP_TO_DATE when every package for
    the model is already installed; NOT_APPLICABLE otherwise (other model, or
    only packages that cannot apply from these versions). ``version_source``: where
    the versions were read (UpdateCapabilities.version_source); a node read without
    FirmwareInventory that is not applicable says so, and what was tried. A node
    whose BMC reports no Model is not "another model" but an exclusion saying so.
    ``allow_downgrade``: packages older than what is installed apply too (a rollback
    campaign, allowed by policy).
    """
    try:
        decisions = explain_applicability(manifest, model, installed,
                                          allow_downgrade=allow_downgrade)
    except BundleError as exc:  # a manifest the reader cannot use: do not touch the node
        return NodeApplicability(NodeTarget(model, Applicability.NOT_APPLICABLE,
                                            reason=str(exc)), (), {}, (str(exc),))
    target = target_from_decisions(model, decisions)
    reasons = tuple(f"{d.package.id}: {d.action} ({d.reason})" for d in decisions)
    if version_source != FIRMWARE_INVENTORY:
        note = (f"the BMC offers no readable UpdateService.FirmwareInventory; versions were "
                f"read by {version_source}")
        # Without FirmwareInventory an absent component may simply be unreadable: the
        # node is not up to date as far as anyone can tell.
        unread = [f"{d.package.id}: {d.reason}" for d in decisions
                  if d.action == "not_applicable_model" and model in d.package.models]
        if target.applicability is Applicability.UP_TO_DATE and unread:
            target = replace(target, applicability=Applicability.NOT_APPLICABLE,
                             reason="; ".join(unread))
        if target.applicability is Applicability.NOT_APPLICABLE:
            target = replace(target, reason=f"{target.reason} ({note})")
            reasons = (*reasons, note)
    other_model = bool(decisions) and all(d.action == "not_applicable_model"
                                          for d in decisions)
    if other_model and not model.strip():
        # Not "another model": the BMC never said what the host is (sushy-tools serves
        # no Model), so nothing could be planned for it, an exclusion to look at.
        other_model = False
        target = replace(target, reason=f"{target.reason} ({NO_MODEL_NOTE})")
        reasons = (NO_MODEL_NOTE, *reasons)
    return NodeApplicability(target, target.packages, dict(target.expected), reasons,
                             other_model)


def managed_node(node_id: str, cluster: str, inventory: NodeInventory) -> ManagedNode:
    """The store record of a successful inventory."""
    return ManagedNode(
        node_id=node_id, cluster=cluster, model=inventory.model, serial=inventory.serial,
        health=inventory.observed_health().value, power_state=inventory.power_state.value,
        firmware=inventory.installed_versions(),
        capabilities=asdict(inventory.capabilities), error="", observed_at=utcnow())


def _nothing_superseded(_destination: str) -> bool:
    return False


@dataclass(frozen=True)
class EventDestination:
    """Where this gateway receives BMC events (gateway.orchestrator.bmc_events).

    Called with a node id: the URL its BMC should push to. ``prefix()``: the URL every
    such destination starts with (read once the receiver listens). ``superseded(url)``:
    whether a fleetflash subscription pushing to ``url`` is a gone member's, so the
    gateway subscribing the BMC removes it (Membership.superseded)."""

    destination: Callable[[str], str]
    prefix: Callable[[], str] = str
    superseded: Callable[[str], bool] = _nothing_superseded

    def __call__(self, node_id: str) -> str:
        return self.destination(node_id)


def read_inventory(endpoint: BmcEndpoint, clients: ClientPool | None = None,
                   events: EventDestination | None = None) -> NodeInventory:
    """The node's inventory. With ``clients`` its pooled client is used and kept logged
    in (the node's first step reuses the session and the URIs found on the way), and
    with ``events`` the BMC is subscribed to push its events to the gateway; without,
    log in, read, log out. Raises RedfishError."""
    if clients is None:
        with FleetBmcClient.connect(endpoint) as client:
            return client.inventory()
    try:
        client = clients.get(endpoint)
        inventory = client.inventory()
    except RedfishError:
        clients.drop(endpoint.name)
        raise
    if events is not None:
        with clients.node_lock(endpoint.name):  # not beside the node's first step
            subscribe(client, endpoint.name, events)
    return inventory


def subscribe(client: FleetBmcClient, node_id: str, events: EventDestination) -> None:
    """Make sure the node's BMC pushes its events to this gateway (once per process;
    idempotent on the BMC), removing fleetflash subscriptions of gone members.
    A BMC that cannot is polled; one that fails for a moment is tried again at its next
    inventory. Never raises."""
    destination = events(node_id)
    if client.known.get("events") in (destination, REFUSED):
        return
    try:
        client.ensure_event_subscription(destination, context=f"fleetflash {node_id}",
                                         superseded=events.superseded)
    except RedfishError as exc:
        if exc.transient:
            LOG.info("node %s: event subscription failed for now: %s", node_id, exc)
            return
        LOG.info("node %s: the BMC will not push events (%s); its updates are polled",
                 node_id, exc)
        client.known["events"] = REFUSED
        return
    client.known["events"] = destination


def inventory_cluster(store: CampaignStore, cluster: str, endpoints: Iterable[BmcEndpoint],
                      *, workers: int = 16, clients: ClientPool | None = None,
                      events: EventDestination | None = None,
                      errors: dict[str, str] | None = None) -> dict[str, NodeInventory]:
    """Inventory every endpoint in parallel and record the result in the store.

    Returns node id -> inventory for the BMCs that answered; the others are
    stored with health "unknown" and their error (also put in ``errors``).
    """
    targets = list(endpoints)

    def one(endpoint: BmcEndpoint) -> tuple[str, NodeInventory | None, str]:
        try:
            return endpoint.name, read_inventory(endpoint, clients, events), ""
        except RedfishError as exc:
            LOG.warning("inventory of %s failed: %s", endpoint.name, exc)
            return endpoint.name, None, str(exc)

    stored = {node.node_id for node in store.nodes(cluster)}
    found: dict[str, NodeInventory] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="inventory") as pool:
        for node_id, inventory, error in pool.map(one, targets):
            if inventory is not None:
                found[node_id] = inventory
                store.upsert_node(managed_node(node_id, cluster, inventory))
                continue
            if errors is not None:
                errors[node_id] = error
            if node_id in stored:  # keep what was last seen; only the health is unknown
                store.set_health(node_id, Health.UNKNOWN.value)
            else:
                store.upsert_node(ManagedNode(
                    node_id=node_id, cluster=cluster, model="", serial="",
                    health=Health.UNKNOWN.value, power_state="Unknown", firmware={},
                    capabilities={}, error=error, observed_at=utcnow()))
    return found


def refresh_idle(store: CampaignStore, endpoints: dict[str, dict[str, BmcEndpoint]],
                 clients: ClientPool, events: EventDestination | None, *,
                 busy: set[str], stopped: Callable[[], bool]) -> int:
    """Inventory again every node of ``endpoints`` (cluster -> node -> endpoint) that is
    not ``busy``, storing what each answered and marking one that did not as down (no
    answer) or unknown; stops early once ``stopped()``. Returns how many were tried."""
    count = 0
    for name in sorted(endpoints):
        for node_id, endpoint in sorted(endpoints[name].items()):
            if node_id in busy or stopped():
                continue
            try:
                store.upsert_node(managed_node(
                    node_id, name, read_inventory(endpoint, clients, events)))
            except RedfishError as exc:
                store.set_health(node_id, "down" if exc.transient else "unknown")
            count += 1
    return count

