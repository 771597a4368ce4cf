"""Loopback ports for servers a test stops and starts again on the same port.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range. While
its server runs nothing else can use it; once the server dies (a gateway killed with
-9), the port is back in that pool, and any outgoing connection or ``bind(0)`` on the
machine may take it before the restarted server binds it again. Its bind then fails
with EADDRINUSE even with SO_REUSEADDR (a connected socket, or its TIME_WAIT for a
minute, holds the address): seen on a busy machine (14,000 loopback sockets, 6,400
in TIME_WAIT) as "CIM listener could not start: [Errno 98] Address already in use"
on a restart of the Slurm kill -9 test. A port below the ephemeral range is never
handed out by the kernel, so only a server that asks for it by number can take it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000  # above the well-known and most registered service ports


def restartable_port() -> int:
    """A loopback port free now and outside the ephemeral range (where the kernel says
    what that range is; elsewhere any free port)."""
    try:
        first_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = LOWEST
    for _ in range(200):
        port = random.randrange(LOWEST, first_ephemeral) if first_ephemeral > LOWEST else 0
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError(f"no free loopback port between {LOWEST} and {first_ephemeral}")
