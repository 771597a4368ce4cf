"""Raw-socket hostile clients for front-door tests (loopback only, bounded loops).

Slow clients connect from 127.0.0.2 and up (all of 127/8 is loopback on Linux), so a
per-client connection limit does not hide what the test is about; the well-behaved
client uses 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator


def source_address(index: int, per_address: int) -> str:
    """127.0.0.2 onwards, `per_address` connections each."""
    n = index // per_address
    return f"127.0.{n // 250}.{n % 250 + 2}"


@contextlib.contextmanager
def slow_heads(port: int, count: int, *, per_address: int = 10,
               partial: bytes = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ") -> Iterator[
                   list[socket.socket]]:
    """`count` connections that each sent the start of a head and then nothing."""
    held: list[socket.socket] = []
    try:
        for index in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((source_address(index, per_address), 0))
            sock.settimeout(10)
            sock.connect(("127.0.0.1", port))
            sock.sendall(partial)
            held.append(sock)
        yield held
    finally:
        for sock in held:
            sock.close()


def http_get(port: int, path: str = "/", *, host: str = "127.0.0.1",
             timeout: float = 10.0) -> bytes:
    """One HTTP/1.0 GET on a fresh connection; the whole response."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def trickle(sock: socket.socket, data: bytes, *, interval: float, max_bytes: int) -> bool:
    """Send `data` one byte per `interval` s (at most `max_bytes`); True when the
    server closed the connection before we were done."""
    for byte in data[:max_bytes]:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return True
        time.sleep(interval)
        if closed_by_peer(sock):
            return True
    return False


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server has closed (EOF or reset), without blocking."""
    sock.setblocking(False)
    try:
        data = sock.recv(65536, socket.MSG_PEEK)
        return data == b"" or data.startswith(b"HTTP/1.1 408")
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        sock.setblocking(True)
