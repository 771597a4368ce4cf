"""Loopback ports for servers a test stops and starts again on the same port: below
the kernel's ephemeral range, where no outgoing connection can take them while the
server is down (lab/ports.py says why)."""

from __future__ import annotations

from lab.ports import free_port_block, restartable_port

__all__ = ["free_port_block", "restartable_port"]
