"""LogServices: the BMC's log entries (where an update CD and the BMC report results).

The system's and the manager's LogServices are both read: an update environment
booted from a CD runs on the host and writes to the system's log (SEL); the BMC's
own update service writes to the manager's. Entry times are on the BMC's clock:
``clock_skew`` reads the LogService's DateTime so a caller can compare them with
its own (a BMC's clock is often minutes off).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.redfish.common import link, member_links
from gateway.redfish.connector import FleetConnector
from gateway.redfish.errors import translated

MAX_PAGES = 4  # of an Entries collection (bmcweb pages at 1000 entries)
MAX_LINKED_ENTRIES = 50  # members given by link only: the newest this many are read


@dataclass(frozen=True)
class LogRecord:
    """One LogEntry. ``created``: its Created time on the BMC's clock (None: absent or
    unreadable); ``origin``: the OriginOfCondition URI ("" if none)."""

    message_id: str
    args: tuple[str, ...]
    message: str
    origin: str
    created: datetime | None


def entries_collections(conn: FleetConnector, owners: list[str]) -> list[tuple[str, str]]:
    """(LogService URI, its Entries URI) of every LogService of the given resources
    (a ComputerSystem, a Manager). Raises RedfishError."""
    found: list[tuple[str, str]] = []
    with translated("reading LogServices"):
        for owner in owners:
            services = link(conn.get(owner).json(), "LogServices")
            if services is None:
                continue
            for service in member_links(conn.get(services).json()):
                entries = link(conn.get(service).json(), "Entries")
                if entries is not None:
                    found.append((service, entries))
    return found


def clock_skew(conn: FleetConnector, service_uri: str) -> timedelta:
    """How far the BMC's clock is ahead of ours (LogService.DateTime; zero if it gives
    none). Raises RedfishError."""
    with translated("reading a LogService"):
        document = conn.get(service_uri).json()
    bmc_now = _time(document.get("DateTime"))
    return bmc_now - datetime.now(UTC) if bmc_now is not None else timedelta(0)


def read_entries(conn: FleetConnector, entries_uri: str) -> list[LogRecord]:
    """The entries of one log (following nextLink for at most MAX_PAGES pages). Members
    given only by link are read one by one, the newest MAX_LINKED_ENTRIES of them.
    Raises RedfishError."""
    records: list[LogRecord] = []
    uri: str | None = entries_uri
    with translated("reading log entries"):
        for _page in range(MAX_PAGES):
            if uri is None:
                break
            page = conn.get(uri).json()
            members = [m for m in page.get("Members") or () if isinstance(m, dict)]
            inline = [m for m in members if "MessageId" in m or "Message" in m]
            linked = [m["@odata.id"] for m in members
                      if m not in inline and isinstance(m.get("@odata.id"), str)]
            records += [_record(m) for m in inline]
            records += [_record(conn.get(path).json())
                        for path in linked[-MAX_LINKED_ENTRIES:]]
            next_link = page.get("Members@odata.nextLink")
            uri = next_link if isinstance(next_link, str) else None
    return records


def _record(entry: dict[str, Any]) -> LogRecord:
    args = entry.get("MessageArgs")
    links = entry.get("Links") if isinstance(entry.get("Links"), dict) else {}
    # LogEntry 1.x has Links.OriginOfCondition; some BMCs put it at the top level.
    origin = link(links or {}, "OriginOfCondition") or link(entry, "OriginOfCondition") or ""
    return LogRecord(_text(entry.get("MessageId")),
                     tuple(str(a) for a in args) if isinstance(args, list) else (),
                     _text(entry.get("Message")), origin, _time(entry.get("Created")))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
