"""/metrics shows each front door: open connections, bytes in flight, refusals by reason."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

from gateway.media import (
    CapabilityGrant,
    CapabilitySigner,
    MediaServer,
    ServerLimits,
    VerifiedDirectoryCatalog,
    media_url,
)
from tests.support.slow_clients import slow_heads, source_address
from tests.support.waiting import wait_until
from tests.unit.gateway.api.conftest import ApiHarness


def _scrape(api: ApiHarness) -> str:
    response = api.client.get("/metrics", headers=api.headers("viewer"))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_media_connections_bytes_in_flight_and_refusals(api: ApiHarness, tmp_path: Path) -> None:
    data = os.urandom(32 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    (tmp_path / f"{digest}.iso").write_bytes(data)
    signer = CapabilitySigner([os.urandom(32)])
    server = MediaServer(signer, VerifiedDirectoryCatalog(tmp_path),
                         limits=ServerLimits(max_connections_per_client=4))
    server.start()
    api.context.metrics.watch_front_door("media", server.stats)
    port = server.bound_ports()["http"]
    grant = CapabilityGrant(digest, "c", "n", int(time.time()) + 600)
    path = "/" + media_url("http://x", signer.mint(grant), "i.iso").split("/", 3)[3]
    try:
        with slow_heads(port, 4, per_address=4):
            wait_until(lambda: server.stats().connections == 4)
            with socket.socket() as refused:  # a fifth from the same address
                refused.bind((source_address(0, 4), 0))
                refused.connect(("127.0.0.1", port))
                assert refused.recv(100).startswith(b"HTTP/1.1 503")
            with socket.socket() as stalled:  # reads nothing: its body stays in flight
                stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stalled.connect(("127.0.0.1", port))
                stalled.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                wait_until(lambda: server.stats().bytes_in_flight > 0)
                metrics = _scrape(api)
        assert 'fleetflash_front_door_connections{listener="media"} 5.0' in metrics
        in_flight = next(line for line in metrics.splitlines() if line.startswith(
            'fleetflash_front_door_bytes_in_flight{listener="media"}'))
        assert 0 < float(in_flight.split()[-1]) <= len(data)
        assert ('fleetflash_front_door_refusals_total{listener="media",'
                'reason="per-client-limit"} 1.0') in metrics
    finally:
        server.stop()
