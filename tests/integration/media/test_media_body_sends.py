"""Bodies on their way to readers: a reader that stops reading is dropped and its slot
freed, a stopping server closes readers mid-body, and a kept-alive connection goes on
to its next request after a whole image."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
import time
from pathlib import Path

from gateway.media import (
    CapabilityGrant,
    CapabilitySigner,
    VerifiedDirectoryCatalog,
    media_url,
)
from gateway.media.server import MediaServer, ServerLimits
from tests.integration.media.conftest import write_image
from tests.support.waiting import wait_until

BIG = 16 * 1024 * 1024 + 7  # far more than two sockets' buffers hold
SIGNER = CapabilitySigner([os.urandom(32)])


def _server(directory: Path, limits: ServerLimits | None = None) -> MediaServer:
    server = MediaServer(SIGNER, VerifiedDirectoryCatalog(directory), limits=limits)
    server.start()
    return server


def _path(sha256: str, node: str) -> str:
    grant = CapabilityGrant(sha256, "camp-1", node, 2**31)
    return "/" + media_url("http://x", SIGNER.mint(grant), "bundle.iso").split("/", 3)[3]


def _stalled_reader(port: int, path: str) -> socket.socket:
    """A reader that asks for the image, reads the head and then never reads again."""
    # Default buffers: a tiny receive window would make reading the rest, later, crawl.
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bmc\r\n\r\n".encode())
    assert sock.recv(64).startswith(b"HTTP/1.1 200")
    return sock


def _read_until_closed(sock: socket.socket) -> int:
    """Bytes read until the server closed (or reset) the connection."""
    total = 0
    try:
        while chunk := sock.recv(1 << 20):
            total += len(chunk)
    except ConnectionResetError:
        pass
    return total


def test_media_reader_that_stops_reading_is_dropped_and_its_slot_freed(
        tmp_path: Path) -> None:
    digest = write_image(tmp_path, os.urandom(BIG))
    server = _server(tmp_path, ServerLimits(send_timeout_s=1.0))
    try:
        port = server.bound_ports()["http"]
        stalled = _stalled_reader(port, _path(digest, "stalled"))
        try:
            wait_until(lambda: server.stats().connections == 1)
            # Nothing was read for longer than the send timeout: the server let go.
            wait_until(lambda: server.stats().connections == 0, timeout_s=60,
                       describe=lambda: server.stats())
            assert server.stats().bytes_in_flight == 0
            assert _read_until_closed(stalled) < BIG
        finally:
            stalled.close()
        served = server.counters.snapshot().per_node[("camp-1", "stalled")]
        assert 0 < served < BIG  # what left before the cut, not the whole image
    finally:
        server.stop()


def test_media_stop_closes_readers_mid_body(tmp_path: Path) -> None:
    digest = write_image(tmp_path, os.urandom(BIG))
    server = _server(tmp_path)
    port = server.bound_ports()["http"]
    readers = [_stalled_reader(port, _path(digest, f"bmc-{i}")) for i in range(3)]
    try:
        wait_until(lambda: server.stats().connections == 3)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        stopper.join(timeout=60)
        assert not stopper.is_alive()
        # Each reader sees its connection end short of the whole image.
        assert all(_read_until_closed(sock) < BIG for sock in readers)
    finally:
        for sock in readers:
            sock.close()
        server.stop()


def test_media_keep_alive_connection_serves_the_next_request_after_a_whole_image(
        tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 1)
    digest = write_image(tmp_path, data)
    server = _server(tmp_path)
    try:
        path = _path(digest, "bmc-1")
        with socket.create_connection(("127.0.0.1", server.bound_ports()["http"]),
                                      timeout=30) as sock:
            stream = sock.makefile("rb")
            for request in (f"GET {path} HTTP/1.1\r\nHost: bmc\r\n\r\n",
                            f"GET {path} HTTP/1.1\r\nHost: bmc\r\nRange: bytes=5-9\r\n\r\n",
                            f"GET {path} HTTP/1.1\r\nHost: bmc\r\n\r\n"):
                sock.sendall(request.encode())
                status = stream.readline()
                length = 0
                while (line := stream.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = stream.read(length)
                if b"206" in status:
                    assert body == data[5:10]
                else:
                    assert status.startswith(b"HTTP/1.1 200")
                    assert hashlib.sha256(body).hexdigest() == digest
            stream.close()  # the socket's descriptor stays open while its file is
        wait_until(lambda: server.stats().connections == 0)
        assert server.stats().bytes_in_flight == 0
        assert server.counters.snapshot().per_node[("camp-1", "bmc-1")] == 2 * len(data) + 5
    finally:
        server.stop()


def test_media_reader_that_reads_in_bursts_with_pauses_gets_the_whole_image(
        tmp_path: Path) -> None:
    """A reader that reads as fast as it can, pauses, and reads on (a BMC busy with
    something else now and then) is served the whole image intact: fast stretches
    go out from the sender threads, pauses hand it back to the loop's turns."""
    data = os.urandom(4 * BIG)
    digest = write_image(tmp_path, data)
    server = _server(tmp_path, ServerLimits(send_timeout_s=30.0))
    try:
        with socket.create_connection(("127.0.0.1", server.bound_ports()["http"]),
                                      timeout=30) as sock:
            sock.sendall(f"GET {_path(digest, 'bursty')} HTTP/1.1\r\nHost: bmc\r\n\r\n"
                         .encode())
            stream = sock.makefile("rb")
            assert stream.readline().startswith(b"HTTP/1.1 200")
            while stream.readline() != b"\r\n":
                pass
            received = hashlib.sha256()
            left, pauses = len(data), 0
            while left:
                burst = stream.read(min(left, 6 * 1024 * 1024))
                assert burst, "the server ended the body early"
                received.update(burst)
                left -= len(burst)
                if left:  # nothing read for longer than a fast reader's gap
                    time.sleep(0.3)
                    pauses += 1
            stream.close()
        assert pauses >= 4
        assert received.hexdigest() == digest
        wait_until(lambda: server.stats().connections == 0)
        assert server.counters.snapshot().per_node[("camp-1", "bursty")] == len(data)
    finally:
        server.stop()


def test_media_fast_reader_that_hangs_up_mid_body_frees_its_slot(tmp_path: Path) -> None:
    """A reader taking bytes as fast as it can (fast readers go to a sender lane) that
    resets its connection mid-body: the server lets go of it, frees its slot and
    counts what left, and goes on serving the next reader the whole image."""
    data = os.urandom(4 * BIG)
    digest = write_image(tmp_path, data)
    server = _server(tmp_path)
    try:
        port = server.bound_ports()["http"]
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(f"GET {_path(digest, 'gone')} HTTP/1.1\r\nHost: bmc\r\n\r\n".encode())
        taken = 0
        while taken < BIG:
            chunk = sock.recv(1 << 20)
            assert chunk
            taken += len(chunk)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, with most of the image still to come
        wait_until(lambda: server.stats().connections == 0, timeout_s=60,
                   describe=lambda: server.stats())
        assert server.stats().bytes_in_flight == 0
        assert BIG <= server.counters.snapshot().per_node[("camp-1", "gone")] < len(data)

        with socket.create_connection(("127.0.0.1", port), timeout=30) as next_reader:
            next_reader.sendall(f"GET {_path(digest, 'next')} HTTP/1.1\r\nHost: bmc\r\n"
                                "Connection: close\r\n\r\n".encode())
            received = _read_until_closed(next_reader)
        assert received > len(data)  # the head and the whole body
        assert server.counters.snapshot().per_node[("camp-1", "next")] == len(data)
    finally:
        server.stop()
