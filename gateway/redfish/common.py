"""Small readers shared by the resource modules (plain JSON in, plain values out)."""

from __future__ import annotations

from typing import Any

from gateway.domain.inventory import HealthStatus


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
    """The @odata.id of every member of a collection, sorted."""
    members = collection.get("Members", [])
    return sorted(m["@odata.id"] for m in members
                  if isinstance(m, dict) and isinstance(m.get("@odata.id"), str))
