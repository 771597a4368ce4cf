"""Content-addressed image cache: one file per verified image, named by its SHA-256.

Layout under the cache root:

    <sha256>.iso            verified images, the only files anyone may serve
    .partial/<sha256>.part  downloads in progress (hidden; resumable)

An image becomes visible only through `promote`, which re-hashes the partial
file, runs the caller's signature check, then renames it into place
atomically. Recency for LRU eviction is the file's mtime, set by `touch`, so it
survives restarts without a database.

Public API used by the media server: `verified_path(sha256)` and `touch(sha256)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gateway.media.errors import MediaError

LOG = logging.getLogger(__name__)
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_HASH_CHUNK = 1 << 20
IMAGE_SUFFIX = ".iso"


class CacheError(MediaError):
    """Root of image cache errors."""


class DigestMismatchError(CacheError):
    """The downloaded bytes do not hash to the announced SHA-256."""


class CacheFullError(CacheError):
    """Not enough room even after evicting every unreferenced image."""


@dataclass(frozen=True)
class CachedImage:
    """A verified image on disk."""

    sha256: str
    path: Path
    size: int
    last_used: float  # POSIX seconds


def check_sha256(sha256: str) -> str:
    """Return `sha256` if it is 64 lowercase hex digits, else raise ValueError."""
    if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
        raise ValueError("sha256 must be 64 lowercase hexadecimal digits")
    return sha256


class ImageCache:
    """Verified images by digest, with resumable partial downloads and LRU eviction.

    `max_bytes` bounds verified images plus partial files. Thread-safe within a
    process; files are only ever published by atomic rename, so readers in other
    processes never see a half-written image.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._partial_dir = self.root / ".partial"
        self._partial_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    # -- read side (media server) --------------------------------------------

    def verified_path(self, sha256: str) -> Path | None:
        """Path of the verified image with this digest, or None when not cached.

        Invalid digests return None (never raise), so a URL parameter can be
        passed straight in.
        """
        if not isinstance(sha256, str) or not _SHA256_RE.match(sha256):
            return None
        path = self._final(sha256)
        return path if path.is_file() else None

    def touch(self, sha256: str) -> None:
        """Mark an image as just used (moves it to the back of the eviction order)."""
        path = self.verified_path(sha256)
        if path is not None:
            with contextlib.suppress(FileNotFoundError):  # evicted meanwhile
                os.utime(path)

    def list_images(self) -> list[CachedImage]:
        """Every verified image, least recently used first."""
        images = []
        for path in self.root.glob(f"*{IMAGE_SUFFIX}"):
            sha = path.name[: -len(IMAGE_SUFFIX)]
            if not _SHA256_RE.match(sha):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            images.append(CachedImage(sha, path, stat.st_size, stat.st_mtime))
        return sorted(images, key=lambda image: image.last_used)

    def usage_bytes(self) -> int:
        """Bytes used by verified images and partial downloads."""
        partial = sum(p.stat().st_size for p in self._partial_dir.glob("*.part"))
        return partial + sum(image.size for image in self.list_images())

    # -- write side (acquisition) ---------------------------------------------

    def partial_size(self, sha256: str) -> int:
        """Bytes already downloaded for this digest (0 when no partial file)."""
        try:
            return self._partial(check_sha256(sha256)).stat().st_size
        except FileNotFoundError:
            return 0

    def open_partial(self, sha256: str, *, resume: bool) -> BinaryIO:
        """Open the partial file for writing: appended to when `resume`, else truncated."""
        path = self._partial(check_sha256(sha256))
        return open(path, "ab" if resume else "wb")  # noqa: SIM115 - caller closes

    def discard_partial(self, sha256: str) -> None:
        """Delete the partial file, if any."""
        self._partial(check_sha256(sha256)).unlink(missing_ok=True)

    def promote(self, sha256: str, verify: Callable[[Path], None]) -> Path:
        """Make a finished download visible after checking it.

        Hashes the partial file (DigestMismatchError if it is not `sha256`),
        then calls `verify(partial_path)`, which must raise to refuse it (the
        signature check). On any failure the partial file is deleted and
        nothing becomes visible. Returns the verified path.
        """
        partial = self._partial(check_sha256(sha256))
        try:
            actual = file_sha256(partial)
            if actual != sha256:
                raise DigestMismatchError(
                    f"downloaded image hashes to {actual}, not the announced {sha256}")
            verify(partial)
            final = self._final(sha256)
            os.chmod(partial, 0o444)  # verified content is immutable
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        LOG.info("image %s verified and cached (%d bytes)", sha256, final.stat().st_size)
        return final

    def remove(self, sha256: str) -> bool:
        """Delete a verified image (and any partial). True when something was removed."""
        final = self._final(check_sha256(sha256))
        existed = final.exists()
        final.unlink(missing_ok=True)
        self.discard_partial(sha256)
        return existed

    def make_room(self, needed_bytes: int, pinned: Collection[str] = ()) -> list[str]:
        """Evict least-recently-used images not in `pinned` until `needed_bytes` more fit.

        Returns the evicted digests. Raises CacheFullError (evicting nothing)
        when even evicting every unpinned image would not free enough.
        """
        with self._lock:
            free = self.max_bytes - self.usage_bytes()
            if needed_bytes <= free:
                return []
            candidates = [image for image in self.list_images() if image.sha256 not in pinned]
            if free + sum(image.size for image in candidates) < needed_bytes:
                raise CacheFullError(
                    f"cache limit {self.max_bytes} bytes: cannot fit {needed_bytes} more bytes "
                    f"({max(free, 0)} free, the rest is in use by campaigns or downloads)")
            evicted = []
            for image in candidates:
                if free >= needed_bytes:
                    break
                image.path.unlink(missing_ok=True)
                free += image.size
                evicted.append(image.sha256)
                LOG.info("evicted image %s (%d bytes) from cache", image.sha256, image.size)
            return evicted

    def free_disk_bytes(self) -> int:
        """Free bytes on the file system holding the cache."""
        return shutil.disk_usage(self.root).free

    def _final(self, sha256: str) -> Path:
        return self.root / f"{sha256}{IMAGE_SUFFIX}"

    def _partial(self, sha256: str) -> Path:
        return self._partial_dir / f"{sha256}.part"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (any size, constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
