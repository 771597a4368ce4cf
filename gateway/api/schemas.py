"""JSON schemas of the API (OpenAPI 3.0 schema objects): request bodies are checked
against them (gateway.api.validation) and the OpenAPI document publishes them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from gateway.api.ports import IDLE_STEP
from gateway.domain import CampaignState, DeliveryMethod, NodeStep
from gateway.store import Decision, ImageState

Schema = dict[str, Any]

SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$", "minLength": 64, "maxLength": 64}
NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$", "minLength": 1,
        "maxLength": 64}
REASON = {"type": "string", "maxLength": 500, "description": "Why (kept in the audit log)."}
TIME = {"type": "string", "format": "date-time"}
VERSIONS = {"type": "object", "additionalProperties": {"type": "string"}}


def enum_of(kind: type[StrEnum], *, nullable: bool = False,
            extra: tuple[str, ...] = ()) -> Schema:
    """A string schema whose values are those of ``kind`` (the one definition of them),
    plus ``extra`` values; with ``nullable``, null too."""
    schema: Schema = {"type": "string", "enum": [member.value for member in kind] + list(extra)}
    if nullable:
        schema["nullable"] = True
    return schema


def ref(name: str) -> Schema:
    """A reference to components/schemas/<name>."""
    return {"$ref": f"#/components/schemas/{name}"}


def page_of(name: str) -> Schema:
    """A paginated list of <name> items."""
    return {"type": "object", "required": ["items", "total", "limit", "offset"], "properties": {
        "items": {"type": "array", "items": ref(name)},
        "total": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1},
        "offset": {"type": "integer", "minimum": 0},
    }}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> Schema:
    return {"type": "object", "properties": properties,
            "required": required if required is not None else list(properties)}


_NULL_STR = {"type": "string", "nullable": True}
STEP = enum_of(NodeStep)
METHOD = enum_of(DeliveryMethod, nullable=True)
_NODE_PROGRESS = _obj({
    "node_id": {"type": "string"}, "step": STEP,
    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
    "attempt": {"type": "integer"}, "canary": {"type": "boolean"}, "held": {"type": "boolean"},
    "method": METHOD, "error": _NULL_STR, "group": {"type": "string"}, "model": _NULL_STR,
})

COMPONENTS: dict[str, Schema] = {
    "Error": _obj({"error": _obj({
        "status": {"type": "integer"}, "code": {"type": "string"},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "The request field at fault, if one is."},
    }, ["status", "code", "message"])}),
    "Alert": _obj({
        "id": {"type": "integer"}, "received_at": TIME, "channel": {"type": "string"},
        "IndicationIdentifier": _NULL_STR, "source": _NULL_STR, "client_address": _NULL_STR,
        "MessageID": _NULL_STR, "decision": enum_of(Decision),
        "reason": {"type": "string"}, "image_sha256": _NULL_STR, "image_uri": _NULL_STR,
        "bundle_id": _NULL_STR, "release": _NULL_STR,
    }),
    "AlertOutcome": _obj({"alert_id": {"type": "integer"}, "decision": enum_of(Decision),
                          "reason": {"type": "string"}, "image_sha256": _NULL_STR}),
    "Image": _obj({
        "sha256": SHA256, "state": enum_of(ImageState), "source": {"type": "string"},
        "bundle_id": {"type": "string"}, "release": {"type": "string"},
        "size_bytes": {"type": "integer", "nullable": True}, "attempts": {"type": "integer"},
        "reason": {"type": "string"}, "created_at": TIME,
        "verified_at": {**TIME, "nullable": True}, "image_uri": {"type": "string"},
    }),
    "Group": _obj({"name": {"type": "string"}, "allowance": {"type": "integer"},
                   "unavailable": {"type": "integer"},
                   "nodes": {"type": "array", "items": {"type": "string"}}}),
    "Cluster": _obj({"name": {"type": "string"}, "autonomy": {"type": "string"},
                     "failure_budget": {"type": "integer"},
                     "max_concurrent": {"type": "integer", "nullable": True},
                     "groups": {"type": "array", "items": ref("Group")}}),
    "Node": _obj({
        "id": {"type": "string"}, "cluster": {"type": "string"}, "group": {"type": "string"},
        "qos": {"type": "string"}, "model": _NULL_STR, "serial": _NULL_STR,
        "health": {"type": "string"}, "power": _NULL_STR, "versions": VERSIONS,
        "step": enum_of(NodeStep, extra=(IDLE_STEP,)), "campaign_id": _NULL_STR,
        "error": _NULL_STR,
        "bmc_url": {"type": "string"}, "versions_source": _NULL_STR, "system": _NULL_STR,
    }),
    "NodeProgress": _NODE_PROGRESS,
    "Wave": _obj({"index": {"type": "integer"}, "canary": {"type": "boolean"},
                  "nodes": {"type": "array", "items": ref("NodeProgress")}}),
    "Campaign": _obj({
        "id": {"type": "string"}, "cluster": {"type": "string"}, "image_sha256": SHA256,
        "release": {"type": "string"}, "state": enum_of(CampaignState),
        "created_at": TIME, "updated_at": TIME, "failure_budget": {"type": "integer"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "waves": {"type": "array", "items": ref("Wave")}, "reason": {"type": "string"},
        "exclusions": {"type": "array", "items": {"type": "string"}, "description":
                       "Why nodes could not be covered: one line per reason, with a count"},
    }),
    "Span": _obj({"step": STEP, "attempt": {"type": "integer"},
                  "started_at": TIME, "ended_at": {**TIME, "nullable": True},
                  "failed": {"type": "boolean"}, "detail": _NULL_STR}),
    "TimelineNode": _obj({
        "node_id": {"type": "string"}, "group": {"type": "string"}, "model": _NULL_STR,
        "canary": {"type": "boolean"}, "wave": {"type": "integer", "nullable": True},
        "attempt": {"type": "integer"}, "outcome": STEP, "error": _NULL_STR,
        "spans": {"type": "array", "items": ref("Span")}, "approximate": {"type": "boolean"},
    }),
    "GroupUsage": _obj({
        "group": {"type": "string"}, "allowance": {"type": "integer"},
        "peak": {"type": "integer"}, "usage": {"type": "array", "items": _obj(
            {"at": TIME, "in_use": {"type": "integer"}})}}),
    "Timeline": _obj({
        "campaign_id": {"type": "string"}, "cluster": {"type": "string"},
        "release": {"type": "string"}, "state": enum_of(CampaignState), "start": TIME,
        "end": TIME, "running": {"type": "boolean"},
        "nodes": {"type": "array", "items": ref("TimelineNode")},
        "groups": {"type": "array", "items": ref("GroupUsage")},
    }),
    "NodeReport": _obj({
        "node_id": {"type": "string"}, "outcome": STEP, "method": METHOD,
        "versions_before": VERSIONS, "versions_after": VERSIONS,
        "started_at": {**TIME, "nullable": True}, "finished_at": {**TIME, "nullable": True},
        "duration_s": {"type": "number", "nullable": True}, "error": _NULL_STR,
    }),
    "ComplianceRow": _obj({
        "node_id": {"type": "string"}, "cluster": {"type": "string"}, "model": _NULL_STR,
        "compliant": {"type": "boolean"}, "image_sha256": _NULL_STR, "release": _NULL_STR,
        "behind": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string"}}},
        "status": {"type": "string"},
    }),
    "Bmc": _obj({"id": {"type": "string"}, "url": {"type": "string"},
                 "username": {"type": "string"}, "credentials_set": {"type": "boolean"},
                 "tls": {"type": "string"}, "cluster": {"type": "string"},
                 "group": {"type": "string"}, "qos": {"type": "string"},
                 "system": _NULL_STR}),
    "Token": _obj({"name": {"type": "string"}, "role": {"type": "string"},
                   "prefix": {"type": "string"}, "created_at": TIME,
                   "revoked_at": {**TIME, "nullable": True}, "active": {"type": "boolean"}}),
    "NewToken": _obj({"name": {"type": "string"}, "role": {"type": "string"},
                      "token": {"type": "string", "description": "Shown once; store it."}}),
    "AuditEvent": _obj({"id": {"type": "integer"}, "at": TIME, "actor": {"type": "string"},
                        "role": {"type": "string"}, "action": {"type": "string"},
                        "target": {"type": "string"}, "outcome": {"type": "string"},
                        "detail": {"type": "string"}}),
    "Health": _obj({"status": {"type": "string"}, "database": {"type": "string"}}),
}

ACTION_BODY: Schema = {"type": "object", "additionalProperties": False,
                       "properties": {"reason": REASON}}
