"""What the media server needs from the rest of the gateway, as small Protocols.

The server holds no state about images or campaigns. For every request it asks a
MediaCatalog "may this authentic grant be served now, and from which verified
file?". The gateway wiring implements MediaCatalog over the image cache and the
campaign store; `CacheBackedCatalog` shows the intended composition, and
`VerifiedDirectoryCatalog` is the self-contained catalog used by
`fleetflash media serve` and the tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gateway.media.capability import CapabilityGrant

log = logging.getLogger(__name__)
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class ServableImage:
    """A verified local image file the server may send.

    size: bytes, as verified; sha256: lowercase hex (also the strong ETag);
    image_id: the gateway's name for the image (used as the per-image counter key).
    """

    path: Path
    size: int
    sha256: str
    image_id: str


class MediaCatalog(Protocol):
    """Decides, per request, whether a grant is servable and from which file."""

    def servable_image(self, grant: CapabilityGrant) -> ServableImage | None:
        """The verified file for `grant`, or None when the image is unknown, not
        verified, withdrawn, or the grant's campaign is no longer running.

        Called from a worker thread, possibly concurrently; may block briefly.
        """
        ...


class VerifiedImageSource(Protocol):
    """The only thing the media server needs from the content-addressed cache."""

    def verified_path(self, sha256: str) -> Path | None:
        """Path of the cached file whose content was verified to hash to `sha256`."""
        ...


class CampaignGate(Protocol):
    """Campaign-side checks the cache cannot answer."""

    def allows(self, grant: CapabilityGrant) -> bool:
        """True while the grant's campaign runs, the node belongs to it, and the
        image is neither withdrawn nor replaced."""
        ...


class CacheBackedCatalog:
    """MediaCatalog over the gateway's image cache and its campaign store."""

    def __init__(self, cache: VerifiedImageSource, campaigns: CampaignGate) -> None:
        self._cache = cache
        self._campaigns = campaigns

    def servable_image(self, grant: CapabilityGrant) -> ServableImage | None:
        if not self._campaigns.allows(grant):
            return None
        path = self._cache.verified_path(grant.image_sha256)
        if path is None:
            return None
        try:
            size = path.stat().st_size
        except OSError:
            return None
        return ServableImage(path, size, grant.image_sha256, grant.image_sha256)


class VerifiedDirectoryCatalog:
    """Images stored as DIR/<sha256> or DIR/<sha256>.iso, each hashed before first use.

    A file is served only after its content was hashed and matched its name; the
    result is remembered per (device, inode, size, mtime) so a replaced or
    modified file is hashed again. Withdrawn digests are never served.
    """

    def __init__(self, directory: Path, withdrawn: Iterable[str] = ()) -> None:
        self._directory = directory
        self._withdrawn = {d.lower() for d in withdrawn}
        self._verified: dict[str, tuple[int, int, int, int]] = {}
        self._found: dict[str, Path] = {}  # the file last served per digest: stat it first
        self._lock = threading.Lock()
        self._hashing = threading.Lock()

    def withdraw(self, sha256: str) -> None:
        """Stop serving `sha256` immediately, for every grant."""
        with self._lock:
            self._withdrawn.add(sha256.lower())

    def servable_image(self, grant: CapabilityGrant) -> ServableImage | None:
        digest = grant.image_sha256
        with self._lock:
            if digest in self._withdrawn:
                return None
        last = self._found.get(digest)
        for candidate in (*((last,) if last is not None else ()),
                          self._directory / digest, self._directory / f"{digest}.iso"):
            try:
                st = candidate.stat()
            except OSError:
                continue
            identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            with self._lock:
                known = self._verified.get(digest) == identity
            if not known and not self._verify(candidate, digest, identity):
                return None
            self._found[digest] = candidate
            return ServableImage(candidate, st.st_size, digest, digest)
        return None


    def _verify(self, path: Path, digest: str, identity: tuple[int, int, int, int]) -> bool:
        # One hash at a time: the first readers of a fleet arrive together, and each
        # worker thread hashing the same image at once multiplied the CPU by the pool.
        with self._hashing:
            with self._lock:
                if self._verified.get(digest) == identity:
                    return True  # another reader's hash just finished
            if not _content_matches(path, digest):
                log.warning("media: %s does not hash to its name; not serving it", path)
                return False
            with self._lock:
                self._verified[digest] = identity
            return True


def _content_matches(path: Path, sha256: str) -> bool:
    started = time.monotonic()
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        log.warning("media: cannot read %s: %s", path, os.strerror(exc.errno or 0))
        return False
    log.info("media: hashed %s in %.1f s", path.name, time.monotonic() - started)
    return digest.hexdigest() == sha256
