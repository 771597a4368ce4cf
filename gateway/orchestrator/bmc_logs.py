"""A BMC's log entries as update signals: where its LogServices are, how far its clock
is off ours, and the entries created since a moment (see gateway.redfish.logs).

FleetBmcClient remembers what ``discover`` found for the node (its ``known`` URIs), so
later reads go straight to the Entries collections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sushy.resources.system.system import System

from gateway.domain.update_signals import UpdateSignal
from gateway.redfish import RedfishError, fallback, logs
from gateway.redfish.connector import FleetConnector

LOG = logging.getLogger(__name__)
# Log entry times often come in whole seconds: an entry of the second an update request
# was sent still counts as newer than the update (entries with fractions are compared
# exactly, so a failure of the previous attempt never counts against a redelivery made
# just after). Not for an update CD: its results come a boot after the reset that
# starts it, and an entry of that reset's second is a superseded run's.
LOG_SLACK = timedelta(seconds=1)
# LogService.DateTime has whole seconds: a smaller difference from our clock is noise.
SKEW_NOISE = timedelta(seconds=2)


def discover(conn: FleetConnector, system: System, root: dict[str, Any],
             bmc_name: str) -> tuple[list[str], float]:
    """The Entries URIs of the system's and the manager's LogServices, and the BMC's
    clock skew in seconds (0 when below SKEW_NOISE). A BMC without readable
    LogServices has none (a log is an extra source: the versions still decide).
    Raises transient RedfishErrors only."""
    try:
        manager = fallback.manager_uri(conn, system.json, root)
        owners = [system.path, *([manager] if manager else [])]
        found = logs.entries_collections(conn, owners)
        skew = logs.clock_skew(conn, found[0][0]) if found else timedelta(0)
    except RedfishError as exc:
        if exc.transient:
            raise
        LOG.info("BMC %s: its logs cannot be read (%s); versions only", bmc_name, exc)
        found, skew = [], timedelta(0)
    skew_s = skew.total_seconds() if abs(skew) >= SKEW_NOISE else 0
    return [entries for _service, entries in found], skew_s


def signals_since(conn: FleetConnector, collections: list[str], skew: timedelta,
                  since: datetime, on_gone: Callable[[], None], *,
                  slack: bool = True) -> list[UpdateSignal]:
    """The entries of ``collections`` created at or after ``since`` (our clock: ``skew``
    is taken out; with ``slack``, LOG_SLACK allows for times given in whole seconds).
    ``on_gone`` is called when a collection has moved or gone (to be looked for again
    next time). Raises transient RedfishErrors only."""
    whole = since - LOG_SLACK if slack else since
    signals: list[UpdateSignal] = []
    for entries in collections:
        try:
            records = logs.read_entries(conn, entries)
        except RedfishError as exc:
            if exc.transient:
                raise
            on_gone()
            continue
        signals += [UpdateSignal("log", r.message_id, r.args, r.origin, r.message,
                                 r.created - skew)
                    for r in records if r.created is not None and r.created - skew >= (
                        whole if r.created.microsecond == 0 else since)]
    return signals


def remembered_signals(conn: FleetConnector, known: dict[str, Any], system: Callable[[], System],
                       root: dict[str, Any], bmc_name: str, since: datetime, *,
                       slack: bool = True) -> list[UpdateSignal]:
    """signals_since over the collections remembered in ``known`` (a client's URIs):
    where the logs are and the BMC's clock skew are discovered once (``system``: the
    host's resource, asked for only then). Raises transient RedfishErrors only."""
    collections: list[str] | None = known.get("logs")
    if collections is None:
        collections, skew_s = discover(conn, system(), root, bmc_name)
        known["logs"] = collections
        known["log_skew_s"] = skew_s
    skew = timedelta(seconds=float(known.get("log_skew_s", 0.0)))
    # A collection moved or gone is looked for again next time.
    return signals_since(conn, collections, skew, since, lambda: known.pop("logs", None),
                         slack=slack)
