"""/api/gateways: the gateways sharing this database, their heartbeats and what each holds.

Any gateway's API answers for the whole fleet: the list comes from the shared
database (gateway.store.gateways), with heartbeat ages on the database's clock.
"""

from __future__ import annotations

from typing import Any

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.routing import Call, Resource
from gateway.api.schemas import TIME
from gateway.store.gateways import Member, list_members

resource = Resource("gateways", "system")

_STR = {"type": "string"}
GATEWAY = {"type": "object", "required": [
    "name", "host", "pid", "api_url", "events_url", "alive", "started_at", "heartbeat_at",
    "heartbeat_age_s", "stopped_at", "held_runs"], "properties": {
    "name": _STR, "host": _STR, "pid": {"type": "integer"}, "api_url": _STR,
    "events_url": _STR,
    "alive": {"type": "boolean"}, "started_at": TIME, "heartbeat_at": TIME,
    "heartbeat_age_s": {"type": "number", "minimum": 0},
    "stopped_at": {**TIME, "nullable": True}, "held_runs": {"type": "integer", "minimum": 0}}}
LISTING = {"type": "object", "required": ["items"], "properties": {
    "items": {"type": "array", "items": GATEWAY}}}


def gateway_json(member: Member) -> dict[str, Any]:
    return {"name": member.name, "host": member.host, "pid": member.pid,
            "api_url": member.api_url, "events_url": member.events_url,
            "alive": member.alive,
            "started_at": member.started_at.isoformat(),
            "heartbeat_at": member.heartbeat_at.isoformat(),
            "heartbeat_age_s": member.heartbeat_age_s,
            "stopped_at": member.stopped_at.isoformat() if member.stopped_at else None,
            "held_runs": member.held_runs}


@resource.operation("GET", "/gateways", summary="Gateways sharing this database: heartbeat, "
                    "liveness and node runs held", role=Role.VIEWER, response=LISTING)
def get_gateways(call: Call) -> Any:
    del call
    return {"items": [gateway_json(m) for m in list_members(api_context().store.engine)]}
