"""The content-addressed image cache (gateway/media/cache.py) on a real directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from gateway.media.cache import CacheFullError, DigestMismatchError, ImageCache


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _store(cache: ImageCache, data: bytes, mtime: float | None = None) -> str:
    sha = _sha(data)
    with cache.open_partial(sha, resume=False) as partial:
        partial.write(data)
    path = cache.promote(sha, lambda _p: None)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return sha


@pytest.fixture
def cache(tmp_path: Path) -> ImageCache:
    return ImageCache(tmp_path / "images", max_bytes=1000)


def test_partial_download_is_invisible_until_promoted(cache: ImageCache) -> None:
    data = b"x" * 100
    sha = _sha(data)
    with cache.open_partial(sha, resume=False) as partial:
        partial.write(data[:40])
    assert cache.verified_path(sha) is None and cache.partial_size(sha) == 40
    assert list(cache.root.glob("*.iso")) == []
    with cache.open_partial(sha, resume=True) as partial:
        partial.write(data[40:])
    path = cache.promote(sha, lambda _p: None)
    assert cache.verified_path(sha) == path and path.read_bytes() == data
    assert cache.partial_size(sha) == 0


def test_digest_mismatch_leaves_nothing(cache: ImageCache) -> None:
    sha = _sha(b"announced")
    with cache.open_partial(sha, resume=False) as partial:
        partial.write(b"something else")
    with pytest.raises(DigestMismatchError, match="not the announced"):
        cache.promote(sha, lambda _p: None)
    assert cache.verified_path(sha) is None and cache.partial_size(sha) == 0


def test_failed_signature_check_leaves_nothing(cache: ImageCache) -> None:
    data = b"signed badly"
    sha = _sha(data)
    with cache.open_partial(sha, resume=False) as partial:
        partial.write(data)

    def refuse(_path: Path) -> None:
        raise ValueError("bad signature")

    with pytest.raises(ValueError, match="bad signature"):
        cache.promote(sha, refuse)
    assert cache.verified_path(sha) is None and cache.partial_size(sha) == 0


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "A" * 64, "a" * 63, None])
def test_invalid_digests_never_resolve(cache: ImageCache, bad: object) -> None:
    assert cache.verified_path(bad) is None  # type: ignore[arg-type]
    if isinstance(bad, str):
        with pytest.raises(ValueError):
            cache.open_partial(bad, resume=False)


def test_eviction_takes_least_recently_used_unpinned_first(cache: ImageCache) -> None:
    oldest = _store(cache, b"1" * 300, mtime=1000)
    middle = _store(cache, b"2" * 300, mtime=2000)
    newest = _store(cache, b"3" * 300, mtime=3000)
    cache.touch(oldest)  # now the most recently used
    evicted = cache.make_room(400, pinned={middle})
    assert evicted == [newest]
    assert cache.verified_path(newest) is None
    assert cache.verified_path(oldest) is not None and cache.verified_path(middle) is not None


def test_cache_full_of_pinned_images_refuses_and_evicts_nothing(cache: ImageCache) -> None:
    first = _store(cache, b"1" * 400)
    second = _store(cache, b"2" * 400)
    with pytest.raises(CacheFullError, match="cannot fit 500 more bytes"):
        cache.make_room(500, pinned={first, second})
    assert cache.verified_path(first) and cache.verified_path(second)


def test_partial_files_count_against_the_limit(cache: ImageCache) -> None:
    with cache.open_partial("c" * 64, resume=False) as partial:
        partial.write(b"p" * 900)
    assert cache.usage_bytes() == 900
    with pytest.raises(CacheFullError):
        cache.make_room(200)
