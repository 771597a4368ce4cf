"""The media server's front door against hostile readers over raw loopback sockets."""

from __future__ import annotations

import socket
from pathlib import Path

from gateway.media import ServerLimits
from tests.integration.media.conftest import RunningMedia, limited_media
from tests.support.slow_clients import http_get, read_all, slow_heads, source_address, trickle
from tests.support.waiting import wait_until


def test_media_reader_is_served_while_500_slow_heads_are_held(media: RunningMedia) -> None:
    with slow_heads(media.port, 500, per_address=10):
        wait_until(lambda: media.server.stats().connections >= 500)
        response = http_get(media.port, media.path(node="good"))
        assert response.startswith(b"HTTP/1.1 200 ")
        assert response.endswith(media.data)
    wait_until(lambda: media.server.stats().connections == 0)


def test_media_trickling_head_is_cut_off_although_bytes_keep_coming(
        media_image_dir: tuple[Path, bytes, str]) -> None:
    directory, _, _ = media_image_dir
    with limited_media(directory, ServerLimits(head_timeout_s=1.0)) as server:
        port = server.bound_ports()["http"]
        head = b"GET /media/x/y HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"p" * 4000 + b"\r\n\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # A byte every 50 ms: the old per-recv timeout never fired on this.
            assert trickle(sock, head, interval=0.05, max_bytes=len(head))
        assert server.stats().refusals["head-timeout"] == 1


def test_media_per_client_limit_leaves_room_for_others(
        media_image_dir: tuple[Path, bytes, str]) -> None:
    directory, data, digest = media_image_dir
    limits = ServerLimits(max_connections_per_client=3, event_loops=1)
    with limited_media(directory, limits) as server:
        port = server.bound_ports()["http"]
        with slow_heads(port, 3, per_address=3):
            wait_until(lambda: server.stats().connections == 3)
            extra = socket.socket()
            extra.bind((source_address(0, 3), 0))
            extra.settimeout(10)
            extra.connect(("127.0.0.1", port))
            assert read_all(extra).startswith(b"HTTP/1.1 503 ")
            extra.close()
            assert http_get(port, "/media/x/y").startswith(b"HTTP/1.1 404 ")
        assert server.stats().refusals == {"per-client-limit": 1}
