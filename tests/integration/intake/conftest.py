"""Fixtures for the intake integration tests: a signed bundle served by the real
publisher web server, and a gateway configured to trust it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulator.publisher import BundleServer


@dataclass(frozen=True)
class PublishedBundle:
    path: Path
    url: str
    sha256: str
    server: BundleServer


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def publish_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "site"
    directory.mkdir()
    return directory


@pytest.fixture
def bundle_site(bundle_factory: Callable[..., Path]) -> Iterator[PublishedBundle]:
    """The small test bundle, served by the publisher's BundleServer on 127.0.0.1."""
    path = bundle_factory(name="fleet-2026q4.iso")
    with BundleServer([path]) as server:
        yield PublishedBundle(path, server.url_for(path), sha256_of(path), server)


