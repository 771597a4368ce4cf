"""The front door's WSGI server (API, BMC event receiver, CIM listener) against hostile
clients over raw loopback sockets: slow heads, trickling heads and bodies, floods from one
address, idle keep-alive connections and malformed lengths."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from gateway.frontdoor import FrontDoorPolicy
from gateway.frontdoor.wsgi_server import FrontDoorWsgiServer
from tests.support.slow_clients import (
    closed_by_peer,
    http_get,
    read_all,
    slow_heads,
    source_address,
    trickle,
)
from tests.support.waiting import wait_until


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok:" + environ["PATH_INFO"].encode() + b":" + body]


@pytest.fixture()
def serve() -> Iterator[Callable[..., FrontDoorWsgiServer]]:
    started: list[FrontDoorWsgiServer] = []

    def start(policy: FrontDoorPolicy, **kwargs: Any) -> FrontDoorWsgiServer:
        server = FrontDoorWsgiServer("test-door", "127.0.0.1", 0, echo_app, policy=policy,
                                     **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_normal_client_is_answered_while_500_slow_heads_are_held(serve: Any) -> None:
    server = serve(FrontDoorPolicy(max_connections=2000, max_connections_per_client=10))
    with slow_heads(server.port, 500, per_address=10):
        wait_until(lambda: server.slots.open >= 500)
        response = http_get(server.port, "/hello")
        assert response.startswith(b"HTTP/1.1 200 ")
        assert response.endswith(b"ok:/hello:")


def test_a_trickling_head_is_cut_off_at_the_whole_head_deadline(serve: Any) -> None:
    # One byte every 50 ms would never trip a per-recv timeout of 1 s.
    server = serve(FrontDoorPolicy(head_timeout_s=1.0))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 4000 + b"\r\n\r\n"
        assert trickle(sock, head, interval=0.05, max_bytes=len(head))
    assert server.slots.refusals()["head-timeout"] == 1
    assert http_get(server.port).startswith(b"HTTP/1.1 200 ")


def test_a_trickling_body_is_cut_off_at_the_body_deadline(serve: Any) -> None:
    server = serve(FrontDoorPolicy(body_timeout_s=1.0))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n")
        assert trickle(sock, b"b" * 4000, interval=0.05, max_bytes=4000)
    assert server.slots.refusals()["body-timeout"] == 1


def test_an_idle_keep_alive_connection_is_closed(serve: Any) -> None:
    server = serve(FrontDoorPolicy(idle_timeout_s=0.5))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        wait_until(lambda: closed_by_peer(sock))
    assert server.slots.refusals() == {}  # an idle client is not a refusal


def test_one_address_cannot_take_every_connection(serve: Any) -> None:
    server = serve(FrontDoorPolicy(max_connections=100, max_connections_per_client=5))
    with slow_heads(server.port, 5, per_address=5):
        wait_until(lambda: server.slots.open == 5)
        extra = socket.socket()
        extra.bind((source_address(0, 5), 0))
        extra.settimeout(10)
        extra.connect(("127.0.0.1", server.port))
        assert read_all(extra) == b""  # closed unanswered
        extra.close()
        assert http_get(server.port).startswith(b"HTTP/1.1 200 ")
    assert server.slots.refusals()["per-client-limit"] == 1


def test_the_global_cap_refuses_and_recovers(serve: Any) -> None:
    server = serve(FrontDoorPolicy(max_connections=20, max_connections_per_client=5))
    with slow_heads(server.port, 20, per_address=5):
        wait_until(lambda: server.slots.open == 20)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as extra:
            assert read_all(extra) == b""
    wait_until(lambda: server.slots.open == 0)
    assert http_get(server.port).startswith(b"HTTP/1.1 200 ")
    assert server.slots.refusals()["connection-limit"] >= 1


@pytest.mark.parametrize("length", ["\u0663", "12abc", "-1", "1, 2", "99999999999999999999"])
def test_a_bad_content_length_is_400_and_reported(serve: Any, length: str) -> None:
    refused: list[tuple[str, str, str]] = []
    server = serve(FrontDoorPolicy(), on_refused=lambda *a: refused.append(a))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + length.encode("utf-8")
                     + b"\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 400 ")
    wait_until(lambda: len(refused) == 1)
    assert refused[0][:2] == ("127.0.0.1", "malformed-request")


def test_bodies_over_the_limit_are_413_with_the_listener_headers(serve: Any) -> None:
    server = serve(FrontDoorPolicy(), max_body_bytes=100, error_headers=[("X-Door", "1")])
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
        answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"\r\nX-Door: 1\r\n" in answer
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"40\r\n" + b"a" * 64 + b"\r\n40\r\n" + b"b" * 64 + b"\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 413 ")
    assert server.slots.refusals() == {"body-too-large": 2}


def test_chunked_bodies_are_decoded_or_refused_where_not_wanted(serve: Any) -> None:
    chunked = (b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n")
    server = serve(FrontDoorPolicy())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(chunked)
        assert read_all(sock).endswith(b"ok:/c:abcde")
    strict = serve(FrontDoorPolicy(), chunked_bodies=False)
    with socket.create_connection(("127.0.0.1", strict.port), timeout=10) as sock:
        sock.sendall(chunked)
        assert read_all(sock).startswith(b"HTTP/1.1 411 ")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Length: 3\r\n\r\nabc")
        assert read_all(sock).startswith(b"HTTP/1.1 400 ")  # the smuggling pattern
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"zz\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 400 ")


def test_keep_alive_pipelining_and_expect_continue(serve: Any) -> None:
    server = serve(FrontDoorPolicy())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abcGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answers = read_all(sock)
    assert answers.count(b"HTTP/1.1 200 OK") == 2
    assert b"ok:/one:abc" in answers and answers.endswith(b"ok:/two:")
