"""A real media server on loopback serving a real verified image."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.media import (
    CapabilityGrant,
    CapabilitySigner,
    MediaServer,
    VerifiedDirectoryCatalog,
    media_url,
)
from gateway.media.server import ServerLimits

IMAGE_BYTES = 2 * 1024 * 1024 + 123  # not a multiple of any buffer size


@dataclass
class RunningMedia:
    server: MediaServer
    signer: CapabilitySigner
    catalog: VerifiedDirectoryCatalog
    image_dir: Path
    data: bytes
    sha256: str

    @property
    def port(self) -> int:
        return self.server.bound_ports()["http"]

    def url(self, *, node: str = "node-1", campaign: str = "camp-1",
            sha256: str | None = None, ttl_s: int = 3600, scheme: str = "http") -> str:
        grant = CapabilityGrant(sha256 or self.sha256, campaign, node, int(time.time()) + ttl_s)
        port = self.server.bound_ports()[scheme]
        return media_url(f"{scheme}://127.0.0.1:{port}", self.signer.mint(grant), "bundle.iso")

    def path(self, **kwargs: object) -> str:
        return "/" + self.url(**kwargs).split("/", 3)[3]  # type: ignore[arg-type]


def write_image(directory: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (directory / f"{digest}.iso").write_bytes(data)
    return digest


@pytest.fixture(scope="module")
def media_image_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, str]:
    directory = tmp_path_factory.mktemp("media-images")
    data = os.urandom(IMAGE_BYTES)
    return directory, data, write_image(directory, data)


@contextmanager
def limited_media(directory: Path, limits: ServerLimits) -> Iterator[MediaServer]:
    """A media server over ``directory`` with ``limits``, on a free loopback port, started
    for the block and stopped after it."""
    server = MediaServer(CapabilitySigner([os.urandom(32)]), VerifiedDirectoryCatalog(directory),
                         limits=limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def media(media_image_dir: tuple[Path, bytes, str]) -> Iterator[RunningMedia]:
    directory, data, digest = media_image_dir
    signer = CapabilitySigner([os.urandom(32)])
    catalog = VerifiedDirectoryCatalog(directory)
    server = MediaServer(signer, catalog, http=("127.0.0.1", 0))
    server.start()
    try:
        yield RunningMedia(server, signer, catalog, directory, data, digest)
    finally:
        server.stop()
