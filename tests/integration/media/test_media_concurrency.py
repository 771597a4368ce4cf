"""Hundreds of BMCs reading one image at the same moment, over HTTP and HTTPS."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import ssl
import threading
from pathlib import Path

import pytest

from gateway.media import MediaServer, make_tls_context
from tests.integration.media.conftest import RunningMedia, write_image
from tests.support.tls import write_self_signed
from tests.support.waiting import wait_until

READERS = 200


def _read_all(port: int, path: str, barrier: threading.Barrier,
              results: list[str | BaseException], index: int) -> None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.connect()
        barrier.wait(timeout=60)  # every reader is connected before any asks
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200, response.status
        digest = hashlib.sha256()
        while chunk := response.read(256 * 1024):
            digest.update(chunk)
        # A HEAD on the same connection returns only after the server counted the GET.
        conn.request("HEAD", path)
        conn.getresponse().read()
        conn.close()
        results[index] = digest.hexdigest()
    except BaseException as exc:  # reported by the test thread
        results[index] = exc


def test_media_200_simultaneous_readers_get_identical_bytes(media: RunningMedia) -> None:
    # Released once the server holds every connection, not when the kernel completed
    # the handshakes: under load the first readers could otherwise finish before the
    # last were accepted, and fewer than 200 were ever open at once (seen: 194).
    barrier = threading.Barrier(READERS, action=lambda: wait_until(
        lambda: media.server.stats().connections >= READERS, 60))
    results: list[str | BaseException] = [RuntimeError("did not finish")] * READERS
    threads = [
        threading.Thread(target=_read_all,
                         args=(media.port, media.path(node=f"bmc-{i}"), barrier, results, i))
        for i in range(READERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    failures = [r for r in results if not isinstance(r, str)]
    assert not failures, failures[:3]
    assert set(results) == {media.sha256}
    assert media.server.peak_connections >= READERS
    snapshot = media.server.counters.snapshot()
    assert snapshot.per_image[media.sha256] == READERS * len(media.data)
    assert len(snapshot.per_node) == READERS



@pytest.fixture()
def tls_media(media: RunningMedia, tmp_path: Path) -> tuple[RunningMedia, Path]:
    cert, key = write_self_signed(tmp_path, "media")
    server = MediaServer(media.signer, media.catalog, http=None, https=("127.0.0.1", 0),
                         tls_context=make_tls_context(cert, key))
    server.start()
    media.server.stop()
    media.server = server
    return media, cert


def test_media_https_serves_ranges_and_whole_image(tls_media: tuple[RunningMedia, Path]) -> None:
    media, cert = tls_media
    context = ssl.create_default_context(cafile=str(cert))
    port = media.server.bound_ports()["https"]
    path = "/" + media.url(scheme="https").split("/", 3)[3]
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    try:
        conn.request("GET", path)
        assert conn.getresponse().read() == media.data
        conn.request("GET", path, headers={"Range": "bytes=10-19,-5"})
        response = conn.getresponse()
        assert response.status == 206
        body = response.read()
        assert media.data[10:20] in body and media.data[-5:] in body
    finally:
        conn.close()
    assert media.server.counters.snapshot().per_image[media.sha256] == len(media.data) + 15


def test_media_https_rejects_plain_http_clients(tls_media: tuple[RunningMedia, Path]) -> None:
    media, _ = tls_media
    conn = http.client.HTTPConnection("127.0.0.1", media.server.bound_ports()["https"],
                                      timeout=10)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/" + media.url(scheme="https").split("/", 3)[3])
        conn.getresponse()
    conn.close()


def test_media_stalled_readers_do_not_hold_up_others(media: RunningMedia) -> None:
    """Readers that stop reading (full sockets) must not tie up the sender threads."""
    big = os.urandom(16 * 1024 * 1024)
    big_sha = write_image(media.image_dir, big)
    stalled = []
    try:
        for index in range(3 * media.server.limits.sender_threads):
            sock = socket.create_connection(("127.0.0.1", media.port), timeout=30)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            path = media.path(node=f"stalled-{index}", sha256=big_sha)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
            assert sock.recv(64).startswith(b"HTTP/1.1 200")  # then never read again
            stalled.append(sock)
        conn = http.client.HTTPConnection("127.0.0.1", media.port, timeout=60)
        conn.request("GET", media.path(node="healthy", sha256=big_sha))
        assert conn.getresponse().read() == big
        conn.close()
    finally:
        for sock in stalled:
            sock.close()
