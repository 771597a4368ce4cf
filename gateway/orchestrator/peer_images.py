"""Images from peers: a fleet fetches each image from its origin once.

The gateway whose intake acquired an image holds it verified in its cache. Every
gateway advertises the images it holds (gateway/store/image_copies.py) with a
capability URL of its own media server (campaign ``@peer``: the media gate serves
such a grant while the image is verified and not withdrawn). When a node step needs
an image this gateway lacks, it reads it from a live holder, hashes it and checks its
signature against the source's trusted keys exactly as the intake does, and only
then makes it visible in its cache. It never goes to the origin: an image no live
peer holds fails the step with a reason that says so, and the step is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from gateway.config import GatewayConfig
from gateway.intake.acquire import verified_manifest
from gateway.intake.errors import AcquisitionError
from gateway.media.cache import CacheError, ImageCache
from gateway.orchestrator.errors import OrchestratorError
from gateway.store import GatewayStore, NotFoundError, StoreError
from gateway.store.image_copies import ImageCopies

LOG = logging.getLogger("gateway.orchestrator")
PEER_CAMPAIGN = "@peer"  # the campaign id of a grant that lets a peer read an image
PEER_URL_LIFETIME_S = 7 * 24 * 3600  # re-advertised long before it expires
CHUNK_BYTES = 1 << 20
ADVERTISE_EVERY_S = 1.0  # a newly verified image is offered to peers within about this
# Only this gateway writes its rows (gateway/store/image_copies.py): holdings that did
# not change are not sent again, except this often in case the rows were lost.
ADVERTISE_REFRESH_S = 60.0
REPLICATE_EVERY_S = 5.0  # how often the images open campaigns want are looked up

UrlMinter = Callable[[str, str, str, int], str]  # sha256, campaign, node, expires_at


class PeerImages:
    """Advertises this gateway's verified images and fetches missing ones from peers."""

    def __init__(self, config: GatewayConfig, images: GatewayStore, cache: ImageCache,
                 copies: ImageCopies, mint_url: UrlMinter,
                 live_names: Callable[[], list[str]], *, timeout_s: float = 60.0) -> None:
        self.config = config
        self.images = images
        self.cache = cache
        self.copies = copies
        self.mint_url = mint_url
        self.live_names = live_names
        self.timeout_s = timeout_s
        self._fetching: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._minted: dict[str, tuple[int, str]] = {}  # sha256 -> (expires_at, url)
        self.peer_bytes = 0  # bytes read from peers by this gateway
        self._advertised = -ADVERTISE_EVERY_S
        self._sent: tuple[float, dict[str, str]] | None = None  # (when, urls) last written
        self._looked_up = -REPLICATE_EVERY_S
        self._replicating: set[str] = set()

    def advertise(self, *, force: bool = False) -> bool:
        """Record which verified images this gateway holds now (at most every
        ADVERTISE_EVERY_S unless `force`). Returns False (nothing to wake for); logs and
        carries on when the database is away."""
        if not force and time.monotonic() - self._advertised < ADVERTISE_EVERY_S:
            return False
        self._advertised = time.monotonic()
        now = int(time.time())
        urls = {}
        for cached in self.cache.list_images():
            expires, url = self._minted.get(cached.sha256, (0, ""))
            if expires - now < PEER_URL_LIFETIME_S // 2:
                expires = now + PEER_URL_LIFETIME_S
                url = self.mint_url(cached.sha256, PEER_CAMPAIGN, self.config.name, expires)
                self._minted[cached.sha256] = (expires, url)
            urls[cached.sha256] = url
        sent = self._sent
        if (sent is not None and sent[1] == urls
                and self._advertised - sent[0] < ADVERTISE_REFRESH_S):
            return False
        try:
            self.copies.advertise(self.config.name, urls)
        except StoreError as exc:
            LOG.warning("could not advertise cached images to peers: %s", exc)
        else:
            self._sent = (self._advertised, urls)
        return False

    def replicate(self, wanted: Callable[[], set[str]]) -> bool:
        """Copy, in the background, every image of `wanted()` (the images of open
        campaigns, looked up at most every REPLICATE_EVERY_S) this gateway lacks and a
        live peer holds: nodes assigned here then find it ready, and the fleet keeps a
        copy when the gateway that acquired it dies. (A node step that needs an image
        sooner reads it itself: locate.) Returns False (nothing to wake for)."""
        if time.monotonic() - self._looked_up < REPLICATE_EVERY_S:
            return False
        self._looked_up = time.monotonic()
        for sha256 in sorted(wanted()):
            if self.cache.verified_path(sha256) is not None:
                continue
            with self._lock:
                if sha256 in self._replicating:
                    continue
                self._replicating.add(sha256)
            threading.Thread(target=self._replicate_one, args=(sha256,), daemon=True,
                             name=f"peer-copy-{sha256[:12]}").start()
        return False

    def _replicate_one(self, sha256: str) -> None:
        try:
            self.locate(sha256)
        except OrchestratorError as exc:
            LOG.info("image %s not copied from a peer yet: %s", sha256, exc)
        finally:
            with self._lock:
                self._replicating.discard(sha256)

    def locate(self, sha256: str) -> Path | None:
        """The verified image file, read from a peer first when this gateway lacks it.
        Raises OrchestratorError when no live peer holds it or none served it whole."""
        path = self.cache.verified_path(sha256)
        if path is not None:
            return path
        with self._lock:
            lock = self._fetching.setdefault(sha256, threading.Lock())
        with lock:  # one download per image, however many nodes wait for it
            path = self.cache.verified_path(sha256)
            if path is None:
                path = self._fetch(sha256)
                self.advertise(force=True)
        return path

    def _fetch(self, sha256: str) -> Path:
        try:
            image = self.images.get_image(sha256)
            live = set(self.live_names())
            holders = [c for c in self.copies.holders(sha256)
                       if c.gateway in live and c.gateway != self.config.name]
        except (NotFoundError, StoreError) as exc:
            raise OrchestratorError(f"image {sha256}: cannot find a peer holding it: {exc}"
                                    ) from exc
        source = self.config.source(image.source)
        if source is None:
            raise OrchestratorError(f"image {sha256} is from source {image.source!r}, which "
                                    "this gateway does not trust; it cannot verify a copy")
        if not holders:
            raise OrchestratorError(f"image {sha256} is not in this gateway's cache and no "
                                    "live peer holds it (the origin is never fetched twice)")
        def verify(file: Path) -> None:  # raises AcquisitionError to refuse the copy
            verified_manifest(file, image, source, check_payloads=True)

        problems = []
        for copy in holders:
            try:
                self._download(copy.url, sha256)
                path = self.cache.promote(sha256, verify)
            except (requests.RequestException, OSError, AcquisitionError, CacheError,
                    OrchestratorError) as exc:
                self.cache.discard_partial(sha256)
                problems.append(f"{copy.gateway}: {exc}")
                continue
            LOG.info("image %s read from peer %s and verified", sha256, copy.gateway)
            return path
        raise OrchestratorError(f"image {sha256}: no peer served a verified copy ("
                                + "; ".join(problems) + ")")

    def _download(self, url: str, sha256: str) -> None:
        with requests.get(url, stream=True, timeout=self.timeout_s) as response:
            if response.status_code != 200:
                raise OrchestratorError(f"answered {response.status_code}")
            expected = int(response.headers.get("Content-Length", "-1"))
            self.cache.make_room(max(expected, 0),
                                 pinned=self.images.referenced_digests() | {sha256})
            written = 0
            with self.cache.open_partial(sha256, resume=False) as partial:
                while chunk := response.raw.read(CHUNK_BYTES):
                    written += len(chunk)
                    if 0 <= expected < written:
                        raise OrchestratorError("sent more bytes than it announced")
                    partial.write(chunk)
            with self._lock:
                self.peer_bytes += written
            if 0 <= expected != written:
                raise OrchestratorError(f"sent {written} of {expected} bytes")
