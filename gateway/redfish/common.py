"""Small readers shared by the resource modules (plain JSON in, plain values out)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from gateway.domain.inventory import HealthStatus

LOG = logging.getLogger(__name__)
DEFAULT_POLL_SECONDS = 1.0


def health_from(status: object) -> HealthStatus:
    """Status.Health of a Redfish resource; UNKNOWN when absent or non-standard."""
    health = status.get("Health") if isinstance(status, dict) else None
    try:
        return HealthStatus(health) if isinstance(health, str) else HealthStatus.UNKNOWN
    except ValueError:
        return HealthStatus.UNKNOWN


def link(document: dict[str, Any], key: str) -> str | None:
    """``document[key]["@odata.id"]`` when present."""
    value = document.get(key)
    target = value.get("@odata.id") if isinstance(value, dict) else None
    return target if isinstance(target, str) else None


def member_links(collection: dict[str, Any]) -> list[str]:
    """The @odata.id of every member of a collection, sorted. ValueError when Members is
    not a list (a malformed collection, never read as an empty one)."""
    members = collection.get("Members", [])
    if not isinstance(members, list):
        raise ValueError(f"the collection's Members is not a list: {str(members)[:80]!r}")
    return sorted(m["@odata.id"] for m in members
                  if isinstance(m, dict) and isinstance(m.get("@odata.id"), str))


def parse_retry_after(value: str | None, *, now: datetime | None = None,
                      default: float = DEFAULT_POLL_SECONDS) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110).

    A missing or unparseable value gives ``default``; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return default
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        LOG.debug("ignoring unparseable Retry-After %r", text)
        return default
    if moment.tzinfo is None:  # RFC 850/asctime forms: HTTP dates are always GMT
        moment = moment.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (moment - current).total_seconds())
