"""The campaign side of the media server's per-request check (gateway.media.CampaignGate).

A capability URL is served only while its node is being updated by its
campaign with that image, and the image is not withdrawn. Answers are cached
for a second: a thousand BMCs reading ranges must not become a thousand
database queries per second.
"""

from __future__ import annotations

import threading
import time

from gateway.domain import ACTIVE_STEPS
from gateway.media import CapabilityGrant
from gateway.store import GatewayStore, ImageState, NotFoundError, StoreError
from gateway.store.campaigns import CampaignStore

_SERVING_STEPS = frozenset(s.value for s in ACTIVE_STEPS)
CACHE_SECONDS = 1.0


class CampaignMediaGate:
    """Implements gateway.media.CampaignGate over the campaign store."""

    def __init__(self, images: GatewayStore, store: CampaignStore) -> None:
        self._images = images
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str], tuple[float, bool]] = {}

    def allows(self, grant: CapabilityGrant) -> bool:
        key = (grant.image_sha256, grant.campaign_id, grant.node_id)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        answer = self._decide(grant)
        with self._lock:
            self._cache[key] = (now, answer)
        return answer

    def _decide(self, grant: CapabilityGrant) -> bool:
        try:
            campaign = self._store.get_campaign(grant.campaign_id)
            if campaign.image_sha256 != grant.image_sha256:
                return False
            if self._images.get_image(grant.image_sha256).state is not ImageState.VERIFIED:
                return False
            return self._store.run(grant.campaign_id, grant.node_id).step in _SERVING_STEPS
        except (NotFoundError, StoreError):
            return False
