"""The campaign side of the media server's per-request check (gateway.media.CampaignGate).

A capability URL is served only while its node is being updated by its
campaign with that image, and the image is not withdrawn. Answers are cached
for a second: a thousand BMCs reading ranges must not become a thousand
database queries per second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gateway.domain import ACTIVE_STEPS, NodeStep
from gateway.media import CapabilityGrant
from gateway.orchestrator.peer_images import PEER_CAMPAIGN
from gateway.store import GatewayStore, ImageState, NotFoundError, StoreError
from gateway.store.campaigns import CampaignStore

# STAGE too: a staged node's BMC downloads the image while it stages it.
_SERVING_STEPS = frozenset(s.value for s in (*ACTIVE_STEPS, NodeStep.STAGE))
CACHE_SECONDS = 1.0


class CampaignMediaGate:
    """Implements gateway.media.CampaignGate over the campaign store."""

    def __init__(self, images: GatewayStore, store: CampaignStore) -> None:
        self._images = images
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, ...], tuple[float, object]] = {}

    def allows(self, grant: CapabilityGrant) -> bool:
        # Three answers, each cached for CACHE_SECONDS: the campaign's image and the
        # image's state are shared by every node of the campaign, so a wave of BMCs
        # reading their CDs costs one run lookup per node and second, not three queries.
        try:
            verified = self._cached(("image", grant.image_sha256),
                                    lambda: self._images.get_image(grant.image_sha256).state
                                    ) is ImageState.VERIFIED
            if grant.campaign_id == PEER_CAMPAIGN:  # a peer gateway copying the image
                return verified
            image = self._cached(("campaign", grant.campaign_id),
                                 lambda: self._store.get_campaign(grant.campaign_id)
                                 .image_sha256)
            if image != grant.image_sha256 or not verified:
                return False
            step = self._cached(("run", grant.campaign_id, grant.node_id),
                                lambda: self._store.run(grant.campaign_id, grant.node_id).step)
            return step in _SERVING_STEPS
        except (NotFoundError, StoreError):
            return False

    def _cached(self, key: tuple[str, ...], read: Callable[[], object]) -> object:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        value = read()
        with self._lock:
            self._cache[key] = (now, value)
        return value
