"""The intended gateway wiring: the real ImageCache + a campaign gate behind the server."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import requests

from gateway.media import (
    CacheBackedCatalog,
    CapabilityGrant,
    CapabilitySigner,
    MediaServer,
    media_url,
)
from gateway.media.cache import ImageCache


class RunningCampaigns:
    """A CampaignGate: campaigns that are running, and images withdrawn."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.withdrawn: set[str] = set()

    def allows(self, grant: CapabilityGrant) -> bool:
        return grant.campaign_id in self.running and grant.image_sha256 not in self.withdrawn


def test_media_serves_from_the_cache_only_while_the_campaign_allows(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache", 10**9)
    data = os.urandom(500_000)
    digest = hashlib.sha256(data).hexdigest()
    with cache.open_partial(digest, resume=False) as stream:
        stream.write(data)
    cache.promote(digest, verify=lambda path: None)
    campaigns = RunningCampaigns()
    campaigns.running.add("q4")
    signer = CapabilitySigner([os.urandom(32)])
    server = MediaServer(signer, CacheBackedCatalog(cache, campaigns))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.bound_ports()['http']}"
        expires = int(time.time()) + 600

        def url(campaign: str, sha: str = digest) -> str:
            grant = CapabilityGrant(sha, campaign, "bmc-1", expires)
            return media_url(base, signer.mint(grant), "q4.iso")

        assert requests.get(url("q4"), timeout=30).content == data
        assert requests.get(url("q3"), timeout=30).status_code == 404  # campaign not running
        not_cached = hashlib.sha256(b"other").hexdigest()
        assert requests.get(url("q4", not_cached), timeout=30).status_code == 404
        campaigns.withdrawn.add(digest)
        assert requests.get(url("q4"), timeout=30).status_code == 404
        campaigns.withdrawn.clear()
        cache.remove(digest)
        assert requests.get(url("q4"), timeout=30).status_code == 404  # evicted
    finally:
        server.stop()
