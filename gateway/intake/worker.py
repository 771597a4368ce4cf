"""The background acquisition worker: takes image leases from the store and acquires them.

Runs in its own thread so the listener answers at once. Work is found in the
database (not an in-memory queue), so alerts raised by another process (the
CLI) or before a restart are picked up too, and several gateways sharing one
database never fetch the same image at once (the lease is a conditional
UPDATE on the image row).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from gateway.config import GatewayConfig
from gateway.intake.acquire import ImageAcquirer
from gateway.intake.errors import AcquisitionError, IntakeError
from gateway.media.cache import ImageCache
from gateway.store import GatewayStore, ImageRecord, ImageState, StoreError

LOG = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5


def retry_delay(attempt: int, base: float = 1.0) -> timedelta:
    """Back-off before attempt `attempt + 1`: base x 2, 4, 8 ... seconds, at most 5 minutes."""
    return timedelta(seconds=min(base * 2 ** max(attempt, 1), 300.0))


class AcquisitionWorker:
    """Acquires pending images one at a time, in a daemon thread."""

    def __init__(self, config: GatewayConfig, store: GatewayStore, cache: ImageCache, *,
                 poll_interval: float = 2.0, retry_base: float = 1.0,
                 acquirer: ImageAcquirer | None = None) -> None:
        self.config = config
        self.store = store
        self.cache = cache
        self.owner = config.name
        self.poll_interval = poll_interval
        self.retry_base = retry_base
        self.acquirer = acquirer or ImageAcquirer(cache, store.referenced_digests)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="acquisition", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after the current chunk and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Look for work now instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except StoreError as exc:
                LOG.error("acquisition worker: store unavailable: %s", exc)
                worked = False
            if not worked:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def run_once(self) -> bool:
        """Claim and process one image. Returns False when there was nothing to do."""
        image = self.store.claim_next_image(self.owner, LEASE)
        if image is None:
            return False
        self.process(image)
        return True

    def process(self, image: ImageRecord) -> ImageState:
        """Acquire a claimed image and record the outcome; returns the resulting state."""
        sha = image.sha256
        source = self.config.source(image.source)
        if source is None:
            return self._finish(image, ImageState.REJECTED,
                                f"source {image.source!r} is no longer configured")

        def progress(**fields: Any) -> bool:
            if self._stop.is_set():
                return False
            alive = self.store.renew_lease(sha, self.owner, LEASE, **fields)
            if alive and "manifest_json" in fields:
                self.store.record_learned_manifest(sha, fields["manifest_json"])
            return alive

        LOG.info("acquiring image %s (attempt %d) from %s", sha, image.attempts, image.image_uri)
        try:
            manifest_json = self.acquirer.acquire(image, source, progress, self._stop.is_set)
        except AcquisitionError as exc:
            if self._withdrawn(sha):
                self.cache.discard_partial(sha)
                return ImageState.WITHDRAWN
            if exc.permanent:
                self.cache.discard_partial(sha)
                return self._finish(image, ImageState.REJECTED, str(exc))
            if self._stop.is_set():  # shutdown, not a fault: resume at once next time
                self.store.release_image(sha, self.owner, str(exc), timedelta(0))
                return ImageState.PENDING
            if image.attempts >= MAX_ATTEMPTS:
                return self._finish(image, ImageState.FAILED,
                                    f"gave up after {image.attempts} attempts: {exc}")
            LOG.warning("image %s: %s (attempt %d, will retry)", sha, exc, image.attempts)
            self.store.release_image(sha, self.owner, str(exc),
                                     retry_delay(image.attempts, self.retry_base))
            return ImageState.PENDING
        except IntakeError as exc:  # defensive: any other intake failure is final
            return self._finish(image, ImageState.FAILED, str(exc))
        # The manifest inside the verified image is authoritative from now on.
        self.store.renew_lease(sha, self.owner, LEASE, manifest_json=manifest_json)
        self.store.record_learned_manifest(sha, manifest_json)
        if not self.store.finish_image(sha, self.owner, ImageState.VERIFIED):
            LOG.warning("image %s verified but its lease was lost or it was withdrawn", sha)
            return self.store.get_image(sha).state
        self.cache.touch(sha)
        LOG.info("image %s verified and available", sha)
        return ImageState.VERIFIED

    def _finish(self, image: ImageRecord, state: ImageState, reason: str) -> ImageState:
        LOG.warning("image %s %s: %s", image.sha256, state, reason)
        self.store.finish_image(image.sha256, self.owner, state, reason)
        return state

    def _withdrawn(self, sha: str) -> bool:
        return self.store.get_image(sha).state == ImageState.WITHDRAWN
