"""The emulator's HTTP/1.1 framing on the wire: raw sockets against a real
MultiPortServer on loopback, one byte sequence per case."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from emulator.server import MultiPortServer

MAX_BODY = 10_000
READ_TIMEOUT_S = 10.0  # far below the server's idle timeout: a hang fails the test


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Echoes the request body; /status/N answers N with a body it asks to send."""
    body = environ["wsgi.input"].read()
    path = environ["PATH_INFO"]
    if path.startswith("/status/"):
        status = int(path.rsplit("/", 1)[1])
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b"this must not reach the wire"]
    text = b"%s %s %d:" % (environ["REQUEST_METHOD"].encode(), path.encode(), len(body)) + body
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(text)))])
    return [text]


@pytest.fixture
def port() -> Iterator[int]:
    server = MultiPortServer(max_body_bytes=MAX_BODY, worker_threads=2)
    server.start()
    yield server.open_port(0, echo_app)
    server.stop()


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def client_hello() -> bytes:
    """The first flight of a real TLS client (Python's ssl module)."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="bmc.example")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_a_tls_client_hello_on_a_plain_port_gets_400_and_close(port: int) -> None:
    hello = client_hello()
    assert hello[:1] == b"\x16"
    answer = exchange(port, hello)  # returns only because the server closed
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"plain HTTP" in answer


def test_an_https_client_fails_its_handshake_instead_of_hanging(port: int) -> None:
    context = ssl.create_default_context()
    with (socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT_S) as sock,
          pytest.raises(ssl.SSLError)):
        context.wrap_socket(sock, server_hostname="bmc.example")
