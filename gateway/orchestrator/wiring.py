"""Building the orchestration parts of `gateway serve` from the configuration.

The orchestrator needs the media server (it hands BMCs capability URLs for
the one verified image) and the media server needs the orchestrator's
campaign check, so both are built here. Without [[clusters]] nothing is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from gateway.cluster_config import expand_systems, load_clusters, load_orchestrator_settings
from gateway.config import ConfigError, GatewayConfig
from gateway.domain import WithdrawalPolicy
from gateway.frontdoor import front_door_policy
from gateway.media import CacheBackedCatalog, MediaError, MediaServer
from gateway.media.cache import ImageCache
from gateway.media.service import MediaUrls, build_media
from gateway.orchestrator.bmc_events import BmcEvent, BmcEventReceiver, load_or_create_secret
from gateway.orchestrator.errors import OrchestratorError
from gateway.orchestrator.inventory import EventDestination
from gateway.orchestrator.media_gate import CampaignMediaGate
from gateway.orchestrator.peer_images import PeerImages
from gateway.orchestrator.registry_sync import RegistrySync
from gateway.orchestrator.runtime import Orchestrator
from gateway.orchestrator.scheduler import OPEN_STATES
from gateway.orchestrator.service import CampaignService
from gateway.orchestrator.settings import OrchestratorSettings
from gateway.redfish.client import list_systems
from gateway.store import GatewayStore, StoreError
from gateway.store.bmc_registry import BmcRegistry
from gateway.store.campaigns import CampaignStore
from gateway.store.image_copies import ImageCopies

LOG = logging.getLogger(__name__)


@dataclass
class Orchestration:
    """The running orchestration parts: start media first, stop it last."""

    orchestrator: Orchestrator
    media: MediaServer
    urls: MediaUrls
    service: CampaignService
    events: BmcEventReceiver | None = None  # [orchestrator] events_http
    peers: PeerImages | None = None  # images read from the fleet's other gateways

    def join(self) -> None:
        """Register this gateway in the fleet sharing the database. Raises
        NameInUseError (a StoreError) when a live gateway has the same name."""
        self.orchestrator.membership.join(api_url=self.orchestrator.api_url)

    def start(self) -> None:
        self.media.start()
        if self.events is not None:
            self.events.start()
        self.orchestrator.start()

    def stop(self) -> None:
        self.orchestrator.stop()
        if self.events is not None:
            self.events.stop()
        self.media.stop()


def build_orchestration(config: GatewayConfig, store: GatewayStore,
                        cache: ImageCache) -> Orchestration | None:
    """The orchestration parts, or None when no cluster is configured.

    Raises OrchestratorError naming the configuration problem.
    """
    try:
        # systems = "all" entries become one node per system their BMC serves now.
        registry = BmcRegistry(store.engine)
        stamp = registry.stamp()  # before reading: a change meanwhile is seen later
        registered = registry.entries()
        clusters = expand_systems(load_clusters(config, registered), list_systems)
        settings = load_orchestrator_settings(config)
    except ConfigError as exc:
        raise OrchestratorError(f"configuration: {exc}") from exc
    if not clusters:
        return None
    campaigns = CampaignStore(store.engine)
    gate = CampaignMediaGate(store, campaigns, stop_now=[
        s.name for s in config.sources if s.withdrawal is WithdrawalPolicy.STOP_NOW])
    try:
        media, urls, _settings = build_media(config, catalog=CacheBackedCatalog(cache, gate))
    except MediaError as exc:
        raise OrchestratorError(f"media server: {exc}") from exc

    def mint(sha256: str, campaign_id: str, node_id: str, expires_at: int) -> str:
        return urls.url_for(image_sha256=sha256, campaign_id=campaign_id, node_id=node_id,
                            expires_at=expires_at)

    receiver = _event_receiver(config, settings, lambda node, events: orchestrator
                               .on_bmc_events(node, events))
    peers = PeerImages(config, store, cache, ImageCopies(store.engine), mint,
                       lambda: orchestrator.membership.registry.live_names())
    orchestrator = Orchestrator(store, campaigns, clusters, settings, owner=config.name,
                                mint_url=mint, locate_image=peers.locate,
                                events=EventDestination(
                                    receiver.destination, receiver.prefix,
                                    lambda url: orchestrator.membership.superseded(url))
                                if receiver else None)
    orchestrator.read_url = urls.grant_of
    orchestrator.housekeeping.append(partial(share_images, orchestrator, campaigns, peers))
    orchestrator.campaign_created.append(partial(offer_images, orchestrator, peers))
    sync = RegistrySync(config, registry, orchestrator.clusters)
    sync.prime(stamp, registered)
    orchestrator.sync_registry = sync.poll
    service = CampaignService(store, campaigns, on_change=orchestrator.wake)
    return Orchestration(orchestrator, media, urls, service, receiver, peers)


def share_images(orchestrator: Orchestrator, campaigns: CampaignStore,
                 peers: PeerImages) -> bool:
    """Offer this gateway's images to its peers and copy the ones open campaigns need
    (a chore of the background loop, about once a second; each part sends statements
    only when due: peer_images.py). A gateway alone in its fleet
    (the member count of its last heartbeat) has no peer to offer to or copy from: it
    sends no statement at all. The count is refreshed when this gateway, as leader,
    assigns nodes to another member, so a newcomer finds the images offered at once."""
    if orchestrator.membership.live_members <= 1:
        return False
    peers.advertise()
    return peers.replicate(
        lambda: {c.image_sha256 for c in campaigns.list_campaigns(OPEN_STATES)})


def offer_images(orchestrator: Orchestrator, peers: PeerImages) -> None:
    """Right after this gateway created a campaign: its images offered to the peers now,
    not within the next second. The members are counted afresh first: one that joined
    since the last heartbeat (seconds ago, before a short inventory) may be given the
    campaign's first node. A gateway alone sends nothing more. A database away for a
    moment costs only the wait for the next offer (about a second), never the campaign's
    start: logged, not raised."""
    try:
        members = orchestrator.membership.recount()
    except StoreError as exc:
        LOG.warning("could not count the fleet's members to offer a new campaign's image "
                    "at once: %s", exc)
        return
    if members > 1:
        peers.advertise(force=True)


def _event_receiver(config: GatewayConfig, settings: OrchestratorSettings,
                    on_events: Callable[[str, tuple[BmcEvent, ...]], None]
                    ) -> BmcEventReceiver | None:
    """The BMC event receiver of [orchestrator] events_http, or None (polling only).
    Its secret lives in the state directory, so subscriptions survive restarts."""
    if not settings.events_http:
        return None
    secret = load_or_create_secret(config.state_dir / "bmc-events.key")
    try:
        policy = front_door_policy(config, "bmc_events")
    except ConfigError as exc:
        raise OrchestratorError(f"configuration: {exc}") from exc
    host, port = settings.events_http
    return BmcEventReceiver(host, port, settings.events_url, secret,
                            on_events, policy=policy)
