"""A port's listening socket: bound for the port's whole life, listening only while it is up.

A BMC restart closes its port and reopens it on the same number. Two ways
that went wrong when the listening socket was closed and a new one bound:

- the number was free for the whole restart, so any process on the machine
  binding a port, or an outgoing connection of our own, could take it; a
  client then reached a stranger (or got no answer at all) instead of
  "connection refused";
- asyncio's Server, closed in the same loop iteration in which it had just
  accepted a connection, leaves that connection's socket open but never
  served (its transport cannot attach to a closed server): the client waits
  for an answer forever. tests/unit/emulator/test_emulator_port_restart.py
  reproduced it with close-and-reopen under load.

So the server accepts on its own sockets here. A socket is bound by number
(a port the kernel picks is released when its socket stops listening; one
bound by number is kept), stops listening with ``shutdown(SHUT_RD)`` (the
kernel resets connections not yet accepted, new ones are refused) and
listens again on reopen. Every close starts a new epoch: a connection
accepted before the close and set up after it is dropped when it arrives.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.server.connection import HttpConnection

LOG = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BACKLOG = 128


@dataclass
class PortPolicy:
    """Per-port behaviour a fault injector can change at run time.

    delay_s: seconds added before each request is handled (>= 0).
    blackhole: accept connections and read requests but never answer them.
    """

    delay_s: float = 0.0
    blackhole: bool = False


@dataclass(eq=False)
class Listener:
    """One port: its socket, the app behind it and its open connections."""

    port: int
    app: WsgiApp
    policy: PortPolicy
    sock: socket.socket | None = None  # bound while the port is managed (None: re-bind)
    listening: bool = False
    epoch: int = 0  # bumped by every close; older connections are dropped
    connections: set[HttpConnection] = field(default_factory=set)
    # This port's own certificate (a replaced one); None uses the server's.
    ssl_context: ssl.SSLContext | None = None


def reserve(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket bound to ``host:port`` by number (0: a free port).

    OSError if the port is taken.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if port == 0:
            # The kernel picks the number for a probe socket; ours binds that
            # number while the probe still holds it (both unlistening with
            # SO_REUSEADDR), so no one else can take it in between.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, 0))
                sock.bind((host, probe.getsockname()[1]))
        else:
            sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def stop_listening(sock: socket.socket) -> bool:
    """Refuse new connections but keep the port bound; False if this system cannot
    (the caller then closes the socket and binds the number again on reopen)."""
    try:
        sock.shutdown(socket.SHUT_RD)  # Linux: a listening socket goes back to unlistening
    except OSError:
        return False
    return True


def accept_ready(sock: socket.socket) -> Iterable[socket.socket]:
    """The connections waiting on ``sock`` (at most BACKLOG), non-blocking.

    OSError (out of file descriptors) ends the batch; the caller pauses accepting.
    """
    for _ in range(BACKLOG):
        try:
            conn, _address = sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        conn.setblocking(False)
        yield conn


async def connect(loop: asyncio.AbstractEventLoop, conn: socket.socket,
                  protocol: Callable[[], asyncio.Protocol],
                  context: ssl.SSLContext | None) -> None:
    """Set a transport (and TLS) up on an accepted socket; a failed handshake closes it."""
    try:
        await loop.connect_accepted_socket(protocol, conn, ssl=context)
    except Exception:  # a client that hung up or failed its TLS handshake
        LOG.debug("connection set-up failed", exc_info=True)
        conn.close()
