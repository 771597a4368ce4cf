"""The built-in media server over real loopback HTTP: ranges, validators, refusals."""

from __future__ import annotations

import email
import http.client
import os
import socket
from email.message import Message
from pathlib import Path

import pytest

from gateway.media import (
    CapabilitySigner,
    MediaError,
    MediaServer,
    ServerLimits,
    VerifiedDirectoryCatalog,
)
from tests.integration.media.conftest import (
    IMAGE_BYTES,
    RunningMedia,
    limited_media,
    write_image,
)
from tests.support.waiting import wait_until

SIZE = IMAGE_BYTES


def _get(media: RunningMedia, headers: dict[str, str] | None = None, method: str = "GET",
         path: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", media.port, timeout=30)
    try:
        conn.request(method, path or media.path(), headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _settle(conn: http.client.HTTPConnection, path: str) -> None:
    """A HEAD on the same keep-alive connection: the server answers it only after it
    finished (and counted) the previous response."""
    conn.request("HEAD", path)
    conn.getresponse().read()


def _parts(content_type: str, body: bytes) -> list[Message]:
    message = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    assert message.is_multipart()
    return list(message.get_payload())  # type: ignore[arg-type]


# (description, Range header, status, expected ranges as (first, last) or None for whole body)
WIRE_RANGE_CASES = [
    ("no range", None, 200, None),
    ("first KiB", "bytes=0-1023", 206, [(0, 1023)]),
    ("suffix", "bytes=-500", 206, [(SIZE - 500, SIZE - 1)]),
    ("open end", f"bytes={SIZE - 10}-", 206, [(SIZE - 10, SIZE - 1)]),
    ("last-pos past end", f"bytes={SIZE - 3}-{SIZE * 9}", 206, [(SIZE - 3, SIZE - 1)]),
    ("multi-range", "bytes=0-9,1000-1099,-7", 206, [(0, 9), (1000, 1099), (SIZE - 7, SIZE - 1)]),
    ("overlap coalesced to one part", "bytes=0-99,50-199", 206, [(0, 199)]),
    ("unsatisfiable", f"bytes={SIZE}-", 416, []),
    ("malformed ignored", "bytes=zz-1", 200, None),
    ("reversed ignored", "bytes=9-1", 200, None),
    ("unknown unit ignored", "lines=1-2", 200, None),
    ("too many ranges ignored", "bytes=" + ",".join(f"{i * 3}-{i * 3}" for i in range(150)),
     200, None),
    ("100 disjoint ranges served",
     "bytes=" + ",".join(f"{i * 3}-{i * 3}" for i in range(100)), 206,
     [(i * 3, i * 3) for i in range(100)]),
]


@pytest.mark.parametrize(("description", "range_value", "status", "ranges"), WIRE_RANGE_CASES,
                         ids=[c[0] for c in WIRE_RANGE_CASES])
def test_media_range_over_the_wire(media: RunningMedia, description: str,
                                   range_value: str | None, status: int,
                                   ranges: list[tuple[int, int]] | None) -> None:
    got_status, headers, body = _get(media, {"Range": range_value} if range_value else {})
    assert got_status == status
    if status == 200:
        assert body == media.data
        assert headers["accept-ranges"] == "bytes"
    elif status == 416:
        assert headers["content-range"] == f"bytes */{SIZE}"
    elif ranges is not None and len(ranges) == 1:
        first, last = ranges[0]
        assert headers["content-range"] == f"bytes {first}-{last}/{SIZE}"
        assert body == media.data[first:last + 1]
    else:
        assert ranges is not None
        assert headers["content-type"].startswith("multipart/byteranges; boundary=")
        assert int(headers["content-length"]) == len(body)
        parts = _parts(headers["content-type"], body)
        assert [p["Content-Range"] for p in parts] == [f"bytes {a}-{b}/{SIZE}" for a, b in ranges]
        assert [p.get_payload(decode=True) for p in parts] == [
            media.data[a:b + 1] for a, b in ranges]


def test_media_head_describes_without_body(media: RunningMedia) -> None:
    status, headers, body = _get(media, {"Range": "bytes=0-9"}, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(SIZE)
    assert headers["etag"] == f'"{media.sha256}"'


@pytest.mark.parametrize(("headers", "status"), [
    ({"If-None-Match": "ETAG"}, 304),
    ({"If-Match": '"stale"'}, 412),
    ({"If-Range": "ETAG", "Range": "bytes=0-9"}, 206),
    ({"If-Range": '"stale"', "Range": "bytes=0-9"}, 200),
])
def test_media_conditional_requests(media: RunningMedia, headers: dict[str, str],
                                    status: int) -> None:
    etag = f'"{media.sha256}"'
    got, _, body = _get(media, {k: v.replace("ETAG", etag) for k, v in headers.items()})
    assert got == status
    if status == 200:
        assert body == media.data


def test_media_refused_urls_all_look_the_same(media: RunningMedia) -> None:
    good = media.path()
    token = good.split("/")[2]
    forged = good.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    expired = media.path(ttl_s=-1)
    unknown = media.path(sha256="0" * 64)
    answers = {_get(media, path=p)[0::2] for p in (forged, expired, unknown, "/media/x/y.iso")}
    assert answers == {(404, b"not found\n")}
    assert _get(media, path=good)[0] == 200


def test_media_withdrawn_image_is_404_for_urls_already_handed_out(media: RunningMedia) -> None:
    path = media.path()
    assert _get(media, path=path)[0] == 200
    media.catalog.withdraw(media.sha256)
    assert _get(media, path=path)[0] == 404


def test_media_never_serves_a_file_that_does_not_match_its_digest(media: RunningMedia) -> None:
    corrupt = media.data[:-1] + bytes([media.data[-1] ^ 0xFF])
    fake_digest = "f" * 64
    (media.image_dir / f"{fake_digest}.iso").write_bytes(corrupt)
    assert _get(media, path=media.path(sha256=fake_digest))[0] == 404


def test_media_other_methods_and_paths(media: RunningMedia) -> None:
    status, headers, _ = _get(media, method="DELETE")
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    assert _get(media, path="/")[0] == 404
    assert _get(media, path="/_fleetflash/authorize")[0] == 404  # nginx mode is off


@pytest.mark.parametrize(("raw", "status"), [
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET /media/x/y HTTP/3.0\r\nHost: a\r\n\r\n", 505),
    (b"GET /media/x/y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET /media/x/y HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
])
def test_media_malformed_requests_get_a_status_and_a_closed_connection(
        media: RunningMedia, raw: bytes, status: int) -> None:
    with socket.create_connection(("127.0.0.1", media.port), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"Connection: close" in received


def test_media_keep_alive_serves_several_ranges_on_one_connection(media: RunningMedia) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", media.port, timeout=30)
    path = media.path()
    try:
        for first in (0, 4096, 1_000_000):
            conn.request("GET", path, headers={"Range": f"bytes={first}-{first + 99}"})
            response = conn.getresponse()
            assert response.status == 206
            assert response.read() == media.data[first:first + 100]
    finally:
        conn.close()
    assert media.server.counters.snapshot().requests == 3


def test_media_reading_one_payload_costs_only_that_payload(media: RunningMedia) -> None:
    """A BMC reading its 300 KiB payload in 64 KiB ranges is charged ~300 KiB, not 2 MiB."""
    first, length, chunk = 500_000, 300 * 1024, 64 * 1024
    conn = http.client.HTTPConnection("127.0.0.1", media.port, timeout=30)
    path = media.path(node="bmc-7")
    received = b""
    try:
        for offset in range(first, first + length, chunk):
            last = min(offset + chunk, first + length) - 1
            conn.request("GET", path, headers={"Range": f"bytes={offset}-{last}"})
            received += conn.getresponse().read()
        _settle(conn, path)
        other = media.path(node="bmc-8")
        conn.request("GET", other, headers={"Range": "bytes=0-99"})
        conn.getresponse().read()
        _settle(conn, other)
    finally:
        conn.close()
    assert received == media.data[first:first + length]
    snapshot = media.server.counters.snapshot()
    assert snapshot.per_node[("camp-1", "bmc-7")] == length
    assert snapshot.per_node[("camp-1", "bmc-8")] == 100
    assert snapshot.per_image[media.sha256] == length + 100


def test_media_client_leaving_mid_transfer_is_counted_partially(media: RunningMedia) -> None:
    big = os.urandom(32 * 1024 * 1024)  # more than loopback socket buffers can hold
    big_sha = write_image(media.image_dir, big)
    with socket.create_connection(("127.0.0.1", media.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        path = media.path(node="quitter", sha256=big_sha)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        received = b""
        while len(received) < 64 * 1024:  # the head and some body: the transfer has begun
            received += sock.recv(65536)
        assert received.startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    # The server carries on serving others after the reset.
    assert _get(media)[2] == media.data
    wait_until(lambda: ("camp-1", "quitter") in media.server.counters.snapshot().per_node,
               30, describe="the cut-short transfer was never counted")
    served = media.server.counters.snapshot().per_node[("camp-1", "quitter")]
    assert 0 < served < len(big)


def test_media_connections_beyond_the_limit_get_503(
        media_image_dir: tuple[Path, bytes, str]) -> None:
    directory, data, digest = media_image_dir
    with limited_media(directory, ServerLimits(max_connections=1, event_loops=1)) as server:
        port = server.bound_ports()["http"]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as first:
            # The first connection is accepted and idle; wait until the server counts it.
            first.sendall(b"HEAD /media/x/y HTTP/1.1\r\nHost: a\r\n\r\n")
            assert first.recv(100).startswith(b"HTTP/1.1 404")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
                assert second.recv(200).startswith(b"HTTP/1.1 503 ")


def test_media_silent_clients_are_dropped_after_the_head_timeout(
        media_image_dir: tuple[Path, bytes, str]) -> None:
    directory, _, _ = media_image_dir
    with limited_media(directory, ServerLimits(head_timeout_s=0.2)) as server, \
            socket.create_connection(("127.0.0.1", server.bound_ports()["http"]),
                                     timeout=30) as sock:
        sock.sendall(b"GET /media/x")  # never finishes its head
        assert sock.recv(100) == b""  # the server closed the connection


def test_media_a_port_in_use_is_a_clear_startup_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MediaServer(CapabilitySigner([os.urandom(32)]), VerifiedDirectoryCatalog(tmp_path),
                             http=("127.0.0.1", taken.getsockname()[1]))
        with pytest.raises(MediaError, match="Address already in use"):
            server.start()
        server.stop()


def test_media_head_of_a_refused_url_has_no_body_and_keeps_the_connection(
        media: RunningMedia) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", media.port, timeout=30)
    try:
        conn.request("HEAD", media.path(ttl_s=-1))
        response = conn.getresponse()
        assert (response.status, response.read()) == (404, b"")
        conn.request("GET", media.path(), headers={"Range": "bytes=0-3"})
        assert conn.getresponse().read() == media.data[:4]
    finally:
        conn.close()
