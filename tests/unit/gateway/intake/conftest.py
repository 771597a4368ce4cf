"""Fixtures for intake tests: a real store, cache and a flaky-but-real HTTP image server."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, Response, request, send_file

from gateway.config import GatewayConfig, load_config
from gateway.intake.service import IntakeService
from gateway.intake.worker import AcquisitionWorker
from gateway.media.cache import ImageCache
from gateway.store import GatewayStore
from tests.conftest import TestKeys
from tests.integration.intake.gatewaykit import write_config
from tests.support.wsgi import serving


@dataclass
class ImageSite:
    """Serves files under /fw/. `cut_next` full GETs are cut off halfway (connection
    dropped); `redirect` answers 302. Each request is logged as (Range header, status)."""

    directory: Path
    base_url: str = ""
    cut_next: int = 0
    redirect: bool = False
    log: list[tuple[str | None, int]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base_url}/fw/{name}"


def _site_app(site: ImageSite) -> Flask:
    app = Flask("image-site")

    @app.get("/fw/<name>")
    def image(name: str) -> Response:
        path = site.directory / name
        etag = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        if site.redirect:
            site.log.append((request.headers.get("Range"), 302))
            return Response("", 302, {"Location": "http://evil.example/x.iso"})
        if site.cut_next and "Range" not in request.headers:
            site.cut_next -= 1
            data = path.read_bytes()

            def half_then_drop() -> Iterator[bytes]:
                yield data[: len(data) // 2]
                raise ConnectionAbortedError("publisher went away")  # drops the connection

            site.log.append((None, 200))
            return Response(half_then_drop(), 200, {"Content-Length": str(len(data)),
                                                    "ETag": f'"{etag}"'})
        response = send_file(path, conditional=True, etag=etag, max_age=0)
        site.log.append((request.headers.get("Range"), response.status_code))
        return response

    return app


@pytest.fixture
def image_site(tmp_path: Path) -> Iterator[ImageSite]:
    directory = tmp_path / "site"
    directory.mkdir()
    site = ImageSite(directory)
    with serving(_site_app(site)) as site.base_url:
        yield site


@dataclass
class Intake:
    config: GatewayConfig
    store: GatewayStore
    cache: ImageCache
    service: IntakeService
    worker: AcquisitionWorker


@pytest.fixture
def make_intake(tmp_path: Path, test_keys: TestKeys) -> Callable[..., Intake]:
    """Build store + cache + service + worker (not started) for a site's prefix."""
    def build(prefix: str, *, cache_max: str = "1GiB", key: Path | None = None) -> Intake:
        config = load_config(write_config(tmp_path, prefixes=[prefix], cache_max=cache_max,
                                          trusted_key=key or test_keys.public))
        store = GatewayStore.open(config.database_url)
        cache = ImageCache(config.cache_dir, config.cache_max_bytes)
        worker = AcquisitionWorker(config, store, cache, poll_interval=0.05, retry_base=0.0)
        return Intake(config, store, cache, IntakeService(config, store), worker)

    return build
