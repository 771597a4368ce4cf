"""A gateway lacking an image reads it from the peer that acquired it, through that
peer's media server, and verifies it again; a peer serving other bytes is refused
(nothing becomes visible in the cache) and a missing holder is named as such, never
answered by going to the origin."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from gateway.media.cache import ImageCache
from gateway.orchestrator.errors import OrchestratorError
from gateway.orchestrator.peer_images import PeerImages
from gateway.store.gateways import GatewayRegistry
from gateway.store.image_copies import ImageCopies
from tests.integration.api.conftest import LiveFactory, LiveGateway
from tests.integration.orchestrator.rig import wait_for


def _verified(live: LiveGateway) -> None:
    """The image verified and advertised by the live gateway, which has a peer: gw-b,
    played by the test (a gateway alone offers its images to no one)."""
    GatewayRegistry(live.gateway.store.engine, "gw-b", "test", host="h2", pid=1,
                    dead_after=timedelta(seconds=60), pid_alive=lambda _pid: True).register()
    assert live.gateway.orchestration is not None
    membership = live.gateway.orchestration.orchestrator.membership
    assert membership.heartbeat() and membership.live_members == 2
    raised = requests.post(live.url + "/api/alerts", timeout=30, json={
        "source": "acme", "image_uri": live.image_uri, "sha256": live.sha256,
        "bundle_id": "test-bundle", "release": "test"},
        headers={"Authorization": f"Bearer {live.tokens['operator']}"})
    assert raised.status_code == 201, raised.text
    copies = ImageCopies(live.gateway.store.engine)
    assert wait_for(lambda: any(c.gateway == live.gateway.config.name
                                for c in copies.holders(live.sha256)), 60)


@contextmanager
def _serving(body: bytes) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/image.iso"
    finally:
        server.shutdown()
        server.server_close()


def _peer(live: LiveGateway, directory: Path, name: str, live_names: list[str]
          ) -> PeerImages:
    config = dataclasses.replace(live.gateway.config, name=name)
    return PeerImages(config, live.gateway.store, ImageCache(directory, 10**9),
                      ImageCopies(live.gateway.store.engine),
                      lambda *args: "http://127.0.0.1:1/unused", lambda: live_names)


def test_an_image_is_read_from_the_peer_that_holds_it_and_verified(
        live_gateway: LiveFactory, tmp_path: Path) -> None:
    live = live_gateway(nodes=1)
    _verified(live)
    holder = live.gateway.config.name
    peer = _peer(live, tmp_path / "b-cache", "gw-b", [holder, "gw-b"])
    path = peer.locate(live.sha256)
    assert path is not None and path.read_bytes() == live.bundle.read_bytes()
    assert peer.peer_bytes == live.bundle.stat().st_size
    # It now offers its copy too.
    peer.advertise(force=True)
    holders = {c.gateway for c in ImageCopies(live.gateway.store.engine).holders(live.sha256)}
    assert holders == {holder, "gw-b"}

    # No live holder: said so, and nothing is fetched from anywhere else.
    lonely = _peer(live, tmp_path / "c-cache", "gw-c", ["gw-c"])
    with pytest.raises(OrchestratorError, match="no live peer holds it"):
        lonely.locate(live.sha256)


def test_a_peer_serving_other_bytes_is_refused(live_gateway: LiveFactory,
                                               tmp_path: Path) -> None:
    live = live_gateway(nodes=1)
    _verified(live)
    forged = bytearray(live.bundle.read_bytes())
    forged[-1] ^= 0xFF
    with _serving(bytes(forged)) as url:
        ImageCopies(live.gateway.store.engine).advertise("gw-evil", {live.sha256: url})
        peer = _peer(live, tmp_path / "b-cache", "gw-b", ["gw-evil"])
        with pytest.raises(OrchestratorError, match="gw-evil: downloaded image hashes to"):
            peer.locate(live.sha256)
    cache = ImageCache(tmp_path / "b-cache", 10**9)
    assert cache.verified_path(live.sha256) is None and cache.partial_size(live.sha256) == 0
