"""This gateway as a member of a fleet sharing one database (gateway/store/gateways.py).

Registers the gateway's name at start (refused while another live gateway
uses it), heartbeats on the database's clock, and tells the scheduler which
live member should drive each node it admits: the one holding the fewest runs,
so a gateway that joins (or rejoins after a crash) takes a fair share of new
work at once. The scheduler's leader (the only gateway that assigns) counts its
own runs as heavier, by 1 / ``leader_share``: besides its nodes it plans and
admits for the whole cluster (and, usually, inventoried it for the campaign),
work that grows with the cluster. A gateway alone behaves exactly as before:
every node is its own.

Each member also registers where it receives its BMCs' events, so that a gateway
subscribing a node's BMC can remove the fleetflash subscriptions of members that are
gone (stopped, or silent for many leases). Only addresses this database knows as a
gone member's go: a live or late member's stay (its client remembers them), and so
do those of gateways on another database (a staging gateway on the same BMCs), which
this one cannot judge.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Iterable
from datetime import timedelta

from gateway.store.campaigns import CampaignStore
from gateway.store.gateways import GatewayRegistry, Member

LOG = logging.getLogger(__name__)
EVENTS_REREAD_S = 1.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    # A gateway killed with -9 whose parent never reaps it (an orphan under a container
    # init that does not wait) stays a zombie: signal 0 still reaches it, yet it is dead.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class Membership:
    """Registration, heartbeat and work assignment of gateway ``name``."""

    def __init__(self, store: CampaignStore, name: str, instance: str, dead_after: timedelta,
                 *, leader_share: float = 1.0) -> None:
        self.name = name
        self.leader_share = leader_share
        self.registry = GatewayRegistry(store.engine, name, instance, host=socket.gethostname(),
                                        pid=os.getpid(), dead_after=dead_after,
                                        pid_alive=_pid_alive)
        self._members = 1
        # URL prefixes the members not gone (live or late) and the gone ones receive(d)
        # events on, at the last reading (None: not read yet, or a member not gone
        # registered none: nothing is superseded then).
        self._events: tuple[tuple[str, ...], tuple[str, ...]] | None = None
        self._events_read = -math.inf  # monotonic time of that reading

    def join(self, api_url: str = "", events_url: str = "") -> None:
        """Register; raises NameInUseError (a StoreError) when the name is taken."""
        self.registry.register(api_url, events_url)
        LOG.info("gateway %s joined the fleet", self.name)

    def leave(self) -> None:
        self.registry.deregister()

    def heartbeat(self) -> bool:
        """Stamp the heartbeat and refresh the member count; False when this process
        lost its name to another (it was taken for dead) and must stop acting."""
        ok = self.registry.heartbeat()
        self.recount()
        return ok

    def _read_events(self) -> int:
        """Read the members' events addresses; returns how many members live (a late
        member's subscriptions are kept, but it does not count as live)."""
        members = self.registry.members()
        kept = tuple(m.events_url for m in members if not m.gone)  # live or just late
        dead = tuple(m.events_url for m in members if m.gone and m.events_url)
        self._events = (kept, dead) if kept and all(kept) else None
        self._events_read = time.monotonic()
        return sum(m.alive for m in members)

    def superseded(self, destination: str) -> bool:
        """Whether a fleetflash event ``destination`` is a gone member's (stopped, or silent
        for GONE_AFTER_LEASES leases: not one merely late) and no other member's: a BMC
        pushing there feeds nobody, and its subscription may go.
        What the last heartbeat read says so is read again from the database first (a
        member may have joined or come back since), unless read within the last
        second (after a member's death every node's BMC has one to remove). False
        whenever the events address of a member not gone is not known."""
        if not self._gone_by_reading(destination):
            return False
        if time.monotonic() - self._events_read >= EVENTS_REREAD_S:
            self._read_events()
            return self._gone_by_reading(destination)
        return True

    def _gone_by_reading(self, destination: str) -> bool:
        known = self._events
        return (known is not None and destination.startswith(known[1])
                and not destination.startswith(known[0]))

    def recount(self) -> int:
        """Read the live members now (not at the next heartbeat, up to a third of a lease
        away: a member that joined since counts) and return how many."""
        self._members = max(1, self._read_events())
        return self._members

    @property
    def live_members(self) -> int:
        """Live members at the last heartbeat (at least 1: this one)."""
        return self._members

    def members(self) -> list[Member]:
        return self.registry.members()

    def assign(self, node_ids: Iterable[str]) -> dict[str, str]:
        """node id -> the live member that should drive it (called by the leader): the
        one whose runs, one more included, weigh least (ties by name), counting the
        nodes assigned here too; this gateway's runs weigh 1 / ``leader_share`` (with
        0, it drives none while another member lives)."""
        load = {m.name: m.held_runs for m in self.registry.members() if m.alive}
        load.setdefault(self.name, 0)
        self._members = len(load)  # as fresh as a heartbeat's count (a newcomer shows)
        if len(load) == 1:
            return dict.fromkeys(node_ids, self.name)
        share = {name: 1.0 for name in load}
        share[self.name] = self.leader_share

        def weight(name: str) -> tuple[float, str]:
            return ((load[name] + 1) / share[name] if share[name] > 0 else math.inf, name)

        owners: dict[str, str] = {}
        for node in node_ids:
            member = min(load, key=weight)
            owners[node] = member
            load[member] += 1
        return owners
