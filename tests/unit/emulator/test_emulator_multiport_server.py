"""The multi-port HTTP server: real sockets on loopback, one tiny WSGI app."""

from __future__ import annotations

import hashlib
import json
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import requests

from emulator.server import HttpServerError, MultiPortServer, PortPolicy


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answers with the port, method, path and body length it saw."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read() if length else b""
    document = json.dumps({"port": environ["SERVER_PORT"], "method": environ["REQUEST_METHOD"],
                           "path": environ["PATH_INFO"], "declared": length,
                           "received": len(body),
                           "sha256": hashlib.sha256(body).hexdigest()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(document)))])
    return [document]


@pytest.fixture
def server() -> Iterator[MultiPortServer]:
    instance = MultiPortServer(max_body_bytes=10_000, worker_threads=2)
    instance.start()
    yield instance
    instance.stop()


def _raw(port: int, data: bytes, read_until_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        chunks = []
        while read_until_close:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_each_port_tells_the_app_which_port_it_is(server: MultiPortServer) -> None:
    ports = [server.open_port(0, echo_app) for _ in range(3)]
    assert len(set(ports)) == 3
    for port in ports:
        assert requests.get(f"http://127.0.0.1:{port}/x").json()["port"] == str(port)


def test_closed_port_refuses_then_reopens_on_the_same_number(server: MultiPortServer) -> None:
    port = server.open_port(0, echo_app)
    server.close_port(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    server.reopen_port(port)
    assert requests.get(f"http://127.0.0.1:{port}/back").json()["path"] == "/back"


def test_busy_port_is_reported(server: MultiPortServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(HttpServerError, match="cannot listen"):
            server.open_port(taken.getsockname()[1], echo_app)


def test_chunked_request_body_is_decoded(server: MultiPortServer) -> None:
    port = server.open_port(0, echo_app)

    def parts() -> Iterator[bytes]:
        yield b"abc"
        yield b"defgh"

    assert requests.post(f"http://127.0.0.1:{port}/", data=parts()).json()["received"] == 8


def test_oversized_body_is_not_buffered(server: MultiPortServer) -> None:
    port = server.open_port(0, echo_app)
    answer = requests.post(f"http://127.0.0.1:{port}/", data=b"x" * 50_000).json()
    assert answer["declared"] == 50_000 and answer["received"] == 0


def test_pipelined_requests_are_answered_in_order(server: MultiPortServer) -> None:
    port = server.open_port(0, echo_app)
    reply = _raw(port, b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.index(b'"/one"') < reply.index(b'"/two"')


@pytest.mark.parametrize(
    ("description", "request_bytes", "status"),
    [
        ("garbage request line", b"HELLO\r\n\r\n", b"400"),
        ("bad header line", b"GET / HTTP/1.1\r\nno-colon-here\r\n\r\n", b"400"),
        ("bad content length", b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n", b"400"),
        ("headers too large", b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        ("bad chunk size", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         b"400"),
    ],
)
def test_malformed_requests_get_a_4xx(server: MultiPortServer, description: str,
                                      request_bytes: bytes, status: bytes) -> None:
    port = server.open_port(0, echo_app)
    assert _raw(port, request_bytes).split(b" ")[1] == status, description


def test_latency_policy_delays_answers(server: MultiPortServer) -> None:
    port = server.open_port(0, echo_app, PortPolicy(delay_s=2.0))
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"http://127.0.0.1:{port}/", timeout=0.3)
    server.policy(port).delay_s = 0
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200


def test_blackhole_policy_never_answers(server: MultiPortServer) -> None:
    port = server.open_port(0, echo_app, PortPolicy(blackhole=True))
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"http://127.0.0.1:{port}/", timeout=0.3)


def test_streamed_response_uses_chunked_encoding(server: MultiPortServer) -> None:
    def streaming(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"first,"
        yield b"second"

    port = server.open_port(0, streaming)
    response = requests.get(f"http://127.0.0.1:{port}/")
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.text == "first,second"


def test_an_app_crash_drops_the_connection_but_not_the_server(server: MultiPortServer) -> None:
    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("bug")

    bad = server.open_port(0, broken)
    good = server.open_port(0, echo_app)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{bad}/")
    assert requests.get(f"http://127.0.0.1:{good}/").status_code == 200


def test_large_bodies_are_spooled_and_arrive_whole() -> None:
    big = MultiPortServer(max_body_bytes=8 << 20, worker_threads=1)
    big.start()
    try:
        port = big.open_port(0, echo_app)
        payload = bytes(range(256)) * (12 << 10)  # 3 MiB, over the in-memory threshold
        answer = requests.post(f"http://127.0.0.1:{port}/up", data=payload).json()
        assert answer["declared"] == answer["received"] == len(payload)
        assert answer["sha256"] == hashlib.sha256(payload).hexdigest()
        # A request pipelined right behind a spooled body is still answered.
        head = f"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: {len(payload)}\r\n\r\n"
        reply = _raw(port, head.encode() + payload +
                     b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert reply.index(b'"/a"') < reply.index(b'"/b"')
    finally:
        big.stop()


def test_port_calls_after_stop_are_quiet_and_leave_the_port_closed() -> None:
    # A BMC restart thread that wakes after the cluster stopped asks for its port back.
    instance = MultiPortServer(worker_threads=1)
    instance.start()
    port = instance.open_port(0, echo_app)
    instance.stop()
    instance.reopen_port(port)
    instance.close_port(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    with pytest.raises(HttpServerError, match="not managed"):
        instance.policy(port)


def test_unknown_port_is_named_in_the_error(server: MultiPortServer) -> None:
    with pytest.raises(HttpServerError, match="port 1 is not managed"):
        server.reopen_port(1)
    with pytest.raises(HttpServerError, match="port 1 is not managed"):
        server.close_port(1)


class StalledDiskSpool(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
    """A spool file on a disk that stalls: every write waits until ``release`` is set.

    A stalled disk (write-back throttling on a loaded machine) cannot be
    produced on demand, so this subclass of the real spool file stands in for it.
    """

    stalled = threading.Event()  # set by the first write that waits
    release = threading.Event()

    def __init__(self) -> None:
        super().__init__(max_size=1 << 20)

    def write(self, data: Any) -> int:
        self.stalled.set()
        self.release.wait(timeout=120)
        return int(super().write(data))


def test_a_stalled_disk_under_an_upload_does_not_stall_port_close_and_reopen() -> None:
    # An upload is spooled to disk while it arrives; if that write ran on the
    # event loop, a slow disk would hold every port, and close_port (a BMC
    # restart) would time out. Here the disk stays stalled until the port work is done.
    StalledDiskSpool.stalled.clear()
    StalledDiskSpool.release.clear()
    stalled = MultiPortServer(max_body_bytes=8 << 20, worker_threads=1,
                              spool_file=StalledDiskSpool)
    stalled.start()
    uploader: threading.Thread | None = None
    try:
        upload_port = stalled.open_port(0, echo_app)
        other_port = stalled.open_port(0, echo_app)
        # 6 MiB: more than the loop queues for the writer, so reading pauses and resumes.
        payload = bytes(range(256)) * (24 << 10)
        answers: list[dict[str, Any]] = []
        uploader = threading.Thread(target=lambda: answers.append(requests.post(
            f"http://127.0.0.1:{upload_port}/up", data=payload, timeout=120).json()))
        uploader.start()
        assert StalledDiskSpool.stalled.wait(timeout=60)

        stalled.close_port(other_port)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", other_port), timeout=5)
        stalled.reopen_port(other_port)
        back = requests.get(f"http://127.0.0.1:{other_port}/back", timeout=30).json()

        # All of that happened while the upload was still stuck on the disk.
        assert back["path"] == "/back"
        assert uploader.is_alive() and not answers
    finally:
        StalledDiskSpool.release.set()
        if uploader is not None:
            uploader.join(timeout=120)
        stalled.stop()
    assert answers[0]["received"] == len(payload)
    assert answers[0]["sha256"] == hashlib.sha256(payload).hexdigest()


def test_a_close_the_caller_gave_up_on_is_dropped_not_done_late() -> None:
    # A BMC restart whose close timed out goes on to "reopen if closed"; a close
    # landing after that check would leave the BMC unreachable for good.
    impatient = MultiPortServer(worker_threads=1, call_timeout_s=0.5)
    impatient.start()
    gate = threading.Event()
    try:
        port = impatient.open_port(0, echo_app)
        impatient.loop.call_soon_threadsafe(gate.wait, 120)  # the loop is stuck until gate
        with pytest.raises(HttpServerError, match="did not answer"):
            impatient.close_port(port)
        gate.set()
        # The loop runs its queue in order: the abandoned close, then this open.
        impatient.open_port(0, echo_app)
        assert impatient.is_open(port)
        assert requests.get(f"http://127.0.0.1:{port}/still", timeout=30).json()["path"] == (
            "/still")
    finally:
        gate.set()
        impatient.stop()
