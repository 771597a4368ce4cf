"""/api/refusals: requests the listeners refused before reading an alert, counted.

Unauthenticated, forbidden and malformed requests (and connections the front door
cut off) are counted per listener, client address, reason and time bucket
(gateway.intake.refusals), so a flood shows as one row with a large count. Counts
reach the store within [refusals] flush_interval_s. Alerts refused after
authentication stay in /api/alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.routing import Call, Resource
from gateway.api.schemas import TIME
from gateway.api.validation import PAGE_QUERY
from gateway.store.refusals import RefusalCount, list_refusals

resource = Resource("refusals", "alerts")

_STR = {"type": "string"}
REFUSAL = {"type": "object", "required": [
    "channel", "client_address", "reason", "bucket_start", "count", "first_at", "last_at",
    "last_sample", "source"], "properties": {
    "channel": _STR, "client_address": _STR, "reason": _STR, "bucket_start": TIME,
    "count": {"type": "integer", "minimum": 1}, "first_at": TIME, "last_at": TIME,
    "last_sample": _STR, "source": {"type": "string", "nullable": True}}}
PAGE = {"type": "object", "required": ["items", "total", "limit", "offset"], "properties": {
    "items": {"type": "array", "items": REFUSAL}, "total": {"type": "integer", "minimum": 0},
    "limit": {"type": "integer", "minimum": 1}, "offset": {"type": "integer", "minimum": 0}}}


def _time(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def refusal_json(item: RefusalCount) -> dict[str, Any]:
    return {"channel": item.channel, "client_address": item.client_address,
            "reason": item.reason, "bucket_start": _time(item.bucket_start),
            "count": item.count, "first_at": _time(item.first_at),
            "last_at": _time(item.last_at), "last_sample": item.last_sample,
            "source": item.source}


@resource.operation("GET", "/refusals", summary="Refused requests per client address, reason "
                    "and time bucket, most recent first", role=Role.VIEWER, response=PAGE,
                    query={**PAGE_QUERY, "reason": {"type": "string", "maxLength": 32}})
def get_refusals(call: Call) -> Any:
    limit, offset = call.query["limit"], call.query["offset"]
    items, total = list_refusals(api_context().store.engine, limit=limit, offset=offset,
                                 reason=call.query.get("reason"))
    return {"items": [refusal_json(i) for i in items], "total": total, "limit": limit,
            "offset": offset}
