"""Loopback ports for servers that are stopped and started again on the same port.

A port from ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range. While
its server runs nothing else can use it; once the server dies (a restarting BMC, a
gateway killed with -9, a slurmd restarted), the port is back in that pool, and any
outgoing connection or ``bind(0)`` on the machine may take it before the server binds
it again. The bind then fails with EADDRINUSE even with SO_REUSEADDR (a connected
socket, or its TIME_WAIT for a minute, holds the address). A port below the
ephemeral range is never handed out by the kernel, so only a server that asks for
it by number can take it. The lab (Slurm rigs, the validation matrix) and the tests
take such ports from here.

A port is free when it is picked, but its server binds it later: two picks before
either bind (a gateway's API and media ports) could be the same port, and the second
server then fails with "Address already in use" (seen in CI). So one process never
hands out a port it handed out among its last ``RECENT`` picks.
"""

from __future__ import annotations

import random
import socket
import threading
from collections import deque
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
PORT_FLOOR = 20000  # above the well-known and most registered service ports
LINUX_DEFAULT_LOW = 32768
_ATTEMPTS = 200
RECENT = 2048  # a suite's worth of rigs; well under the ~12,000 ports below the range

_recent: deque[int] = deque(maxlen=RECENT)
_recent_set: set[int] = set()
_recent_lock = threading.Lock()


class PortError(OSError):
    """No free loopback port (or block of ports) below the ephemeral range."""


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default elsewhere)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LINUX_DEFAULT_LOW


def is_free(port: int) -> bool:
    """Whether a server could bind 127.0.0.1:``port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def restartable_port(taken: set[int] | None = None) -> int:
    """A loopback port free now and below the ephemeral range; ``taken``: ports already
    handed out for the same rig (not bound yet), skipped and the new one added."""
    return free_port_block(1, taken)


def free_port_block(count: int, taken: set[int] | None = None) -> int:
    """The first of ``count`` consecutive loopback ports, all free now, below the
    ephemeral range and not among this process's recent picks. Raises PortError."""
    low = ephemeral_low()
    rng = random.SystemRandom()
    for _attempt in range(_ATTEMPTS if low - count > PORT_FLOOR else 0):
        base = rng.randrange(PORT_FLOOR, low - count)
        block = range(base, base + count)
        if taken is not None and any(port in taken for port in block):
            continue
        with _recent_lock:
            if any(port in _recent_set for port in block):
                continue
            if not all(is_free(port) for port in block):
                continue
            _remember(block)
        if taken is not None:
            taken.update(block)
        return base
    raise PortError(f"no block of {count} free loopback ports between "
                    f"{PORT_FLOOR} and {low}")


def _remember(block: range) -> None:
    for port in block:
        if len(_recent) == RECENT:
            _recent_set.discard(_recent[0])
        _recent.append(port)
        _recent_set.add(port)


__all__ = ["PortError", "ephemeral_low", "free_port_block", "is_free", "restartable_port"]
