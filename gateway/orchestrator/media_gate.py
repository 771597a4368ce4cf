"""The campaign side of the media server's per-request check (gateway.media.CampaignGate).

A capability URL is served only while its node is being updated by its
campaign with that image, and the image is not withdrawn; once withdrawn, by a
source whose policy is finish_in_flight (docs/configuration.md, [[sources]]
withdrawal), still to the nodes whose update began before the withdrawal and
that are not verified yet, so that they complete instead of stopping
half-updated. Answers are cached for a second: a thousand BMCs reading ranges
must not become a thousand database queries per second (the nodes of a campaign in
a serving step are read together, once a second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime
from typing import TypeVar, cast

from gateway.domain import ACTIVE_STEPS, PATH, NodeStep
from gateway.media import CapabilityGrant
from gateway.orchestrator.peer_images import PEER_CAMPAIGN
from gateway.store import GatewayStore, ImageState, NotFoundError, StoreError
from gateway.store.campaigns import CampaignStore

# STAGE too: a staged node's BMC downloads the image while it stages it.
_SERVING_STEPS = frozenset(s.value for s in (*ACTIVE_STEPS, NodeStep.STAGE))
# A withdrawn image (finish_in_flight): only nodes whose delivery began and that are
# not verified yet, which a CD that stops reading would leave half-updated.
_FINISHING_STEPS = frozenset(
    s.value for s in PATH[PATH.index(NodeStep.DELIVER):PATH.index(NodeStep.VERIFY) + 1])
CACHE_SECONDS = 1.0
T = TypeVar("T")


class CampaignMediaGate:
    """Implements gateway.media.CampaignGate over the campaign store."""

    def __init__(self, images: GatewayStore, store: CampaignStore,
                 stop_now: Collection[str] = ()) -> None:
        self._images = images
        self._store = store
        self._stop_now = frozenset(stop_now)  # sources whose withdrawal revokes at once
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, ...], tuple[float, object]] = {}

    def allows(self, grant: CapabilityGrant) -> bool:
        # Answers cached for CACHE_SECONDS: the campaign's image, the image's state and
        # which of the campaign's nodes are in a serving step are shared by every node
        # of the campaign, so a wave of BMCs reading their CDs costs one query per
        # campaign and second; a node missing from that answer is looked up alone.
        try:
            state, source, withdrawn_at = self._cached(
                ("image", grant.image_sha256), lambda: self._image(grant.image_sha256))
            if grant.campaign_id == PEER_CAMPAIGN:  # a peer gateway copying the image
                return state is ImageState.VERIFIED
            if state is not ImageState.VERIFIED and (
                    state is not ImageState.WITHDRAWN or source in self._stop_now):
                return False
            image = self._cached(("campaign", grant.campaign_id),
                                 lambda: self._store.get_campaign(grant.campaign_id)
                                 .image_sha256)
            if image != grant.image_sha256:
                return False
            if state is ImageState.VERIFIED and grant.node_id in self._cached(
                    ("serving", grant.campaign_id),
                    lambda: self._store.nodes_in_steps(grant.campaign_id, _SERVING_STEPS)):
                return True
            # Not serving a second ago (or withdrawn): this run alone, read now, since its
            # node may have just been started.
            step, began = self._cached(("run", grant.campaign_id, grant.node_id),
                                       lambda: self._run(grant.campaign_id, grant.node_id))
            if state is ImageState.VERIFIED:
                return step in _SERVING_STEPS
            # Withdrawn, finish_in_flight: only an update that began before the withdrawal
            # (a redelivery after it, or a node still in PRECHECK then, is something new).
            return (step in _FINISHING_STEPS and began is not None
                    and withdrawn_at is not None and began < withdrawn_at)
        except (NotFoundError, StoreError):
            return False

    def _image(self, sha256: str) -> tuple[ImageState, str, datetime | None]:
        record = self._images.get_image(sha256)
        return record.state, record.source, record.withdrawn_at

    def _run(self, campaign_id: str, node_id: str) -> tuple[str, datetime | None]:
        """The run's step, and when its update began (DELIVER records it just before
        the request that starts it; see gateway.orchestrator.signals.update_started)."""
        run = self._store.run(campaign_id, node_id)
        return run.step, run.progress.reset_intent or run.progress.update_intent

    def _cached(self, key: tuple[str, ...], read: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cast(T, cached[1])
        value = read()
        with self._lock:
            self._cache[key] = (now, value)
        return value
