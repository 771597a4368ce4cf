"""A port that closes and reopens (a BMC restart) while clients keep asking.

Every request must get an answer or a closed connection, never silence: a
client left waiting is what hung whole-suite runs (a connection accepted in
the loop iteration its port closed in was never served nor closed). Socket
timeouts only detect such a hang; nothing here asserts how fast anything is.
"""

from __future__ import annotations

import functools
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from emulator.server import MultiPortServer
from tests.support.background import running

HANG_S = 10.0  # far beyond any answer of this app: a client waiting this long was forgotten
RESTARTS = 300
CLIENTS = 6
REQUEST = b"GET /x HTTP/1.1\r\nHost: bmc\r\n\r\n"


def ok_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def server() -> Iterator[MultiPortServer]:
    instance = MultiPortServer(worker_threads=2)
    instance.start()
    yield instance
    instance.stop()


def _ask(port: int, keep_alive: bool, outcomes: Counter[str], stop: threading.Event) -> None:
    """GET until ``stop``; count answers, refused/reset connections and hangs."""
    conn: socket.socket | None = None
    while not stop.is_set():
        try:
            if conn is None:
                conn = socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
            conn.sendall(REQUEST)
            data = conn.recv(4096)
        except TimeoutError:
            outcomes["no answer"] += 1
            data = b""
        except OSError:  # refused while down, or reset by the restart
            outcomes["refused or reset"] += 1
            data = b""
        else:
            outcomes["answered" if data.startswith(b"HTTP/1.1 200") else "closed"] += 1
        if conn is not None and (not data or not keep_alive):
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


def test_every_request_during_repeated_restarts_is_answered_or_its_connection_closed(
        server: MultiPortServer) -> None:
    port = server.open_port(0, ok_app)
    outcomes: Counter[str] = Counter()
    with running(functools.partial(_ask, port, index % 2 == 0, outcomes)
                 for index in range(CLIENTS)):
        for _ in range(RESTARTS):
            server.close_port(port)
            server.reopen_port(port)
    assert outcomes["no answer"] == 0, outcomes
    assert outcomes["answered"] > 0, outcomes
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as conn:
        conn.sendall(REQUEST)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")


def test_a_closed_port_refuses_connections_and_nobody_else_can_take_its_number(
        server: MultiPortServer) -> None:
    port = server.open_port(0, ok_app)
    server.close_port(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=HANG_S)
    with socket.socket() as stranger, pytest.raises(OSError, match="in use"):
        stranger.bind(("127.0.0.1", port))
    server.reopen_port(port)
    assert server.is_open(port)
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_S) as conn:
        conn.sendall(REQUEST)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")


def test_a_forgotten_port_frees_its_number(server: MultiPortServer) -> None:
    port = server.open_port(0, ok_app)
    server.close_port(port, forget=True)
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))  # no error: the number is free again
