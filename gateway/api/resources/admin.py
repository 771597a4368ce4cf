"""Admin resources: /api/bmcs (registration), /api/tokens and /api/audit.

BMC passwords go in (POST) and never come out: views carry `credentials_set`.
Token secrets are returned once, by POST /api/tokens.
"""

from __future__ import annotations

from typing import Any

from gateway.api.auth import Role, TokenInfo
from gateway.api.context import api_context
from gateway.api.errors import ApiNotFoundError
from gateway.api.ports import BmcRegistration, BmcView
from gateway.api.resources.common import page
from gateway.api.routing import Call, Resource
from gateway.api.schemas import NAME, page_of, ref
from gateway.api.validation import PAGE_QUERY
from gateway.store.operators import AuditEvent

bmcs = Resource("bmcs", "bmcs")
tokens = Resource("tokens", "tokens")
audit = Resource("audit", "audit")

BMC_BODY = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "url", "username", "password", "cluster", "group"],
    "properties": {
        "id": NAME, "url": {"type": "string", "pattern": "^https?://[^/]+", "maxLength": 2048},
        "username": {"type": "string", "minLength": 1, "maxLength": 128},
        "password": {"type": "string", "minLength": 1, "maxLength": 512, "writeOnly": True},
        "cluster": NAME, "group": NAME, "qos": {**NAME, "default": "default"},
        "tls": {"type": "string", "enum": ["verify", "pin", "insecure"], "default": "verify"},
        "fingerprint": {"type": "string", "pattern": "^[0-9A-Fa-f:]{64,95}$"},
        "system": {"type": "string", "minLength": 1, "maxLength": 256},
    },
}
TOKEN_BODY = {"type": "object", "additionalProperties": False, "required": ["name", "role"],
              "properties": {"name": NAME, "role": {"type": "string",
                                                    "enum": [r.value for r in Role]}}}


@bmcs.operation("GET", "/bmcs", summary="List registered BMCs (never their passwords)",
                role=Role.ADMIN, response=page_of("Bmc"), query=PAGE_QUERY)
def list_bmcs(call: Call) -> Any:
    return page(api_context().require_operations().list_bmcs(), call, BmcView.to_json)


@bmcs.operation("POST", "/bmcs", summary="Register a BMC as a node of a cluster",
                role=Role.ADMIN, body=BMC_BODY, response=ref("Bmc"), status=201,
                audit="bmc.register", may_conflict=True)
def register_bmc(call: Call) -> Any:
    assert call.principal is not None
    registration = BmcRegistration(**call.body)
    return api_context().require_operations().register_bmc(
        registration, call.principal.name).to_json()


def token_json(info: TokenInfo) -> dict[str, Any]:
    return {"name": info.name, "role": info.role.value, "prefix": info.prefix,
            "created_at": info.created_at.isoformat(),
            "revoked_at": info.revoked_at.isoformat() if info.revoked_at else None,
            "active": info.active}


@tokens.operation("GET", "/tokens", summary="List API tokens (never their secrets)",
                  role=Role.ADMIN, response=page_of("Token"), query=PAGE_QUERY)
def list_tokens(call: Call) -> Any:
    return page(api_context().tokens.list(), call, token_json)


@tokens.operation("POST", "/tokens", summary="Create an API token (secret shown once)",
                  role=Role.ADMIN, body=TOKEN_BODY, response=ref("NewToken"), status=201,
                  audit="token.create", may_conflict=True)
def create_token(call: Call) -> Any:
    info, secret = api_context().tokens.create(call.body["name"], call.body["role"])
    return {"name": info.name, "role": info.role.value, "token": secret}


@tokens.operation("POST", "/tokens/<name>/revoke", summary="Revoke an API token",
                  role=Role.ADMIN, response=ref("Token"), audit="token.revoke")
def revoke_token(call: Call, name: str) -> Any:
    if not any(t.name == name for t in api_context().tokens.list()):
        raise ApiNotFoundError(f"no token named {name[:64]!r}")
    return token_json(api_context().tokens.revoke(name))


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "at": event.at.isoformat(), "actor": event.actor,
            "role": event.role, "action": event.action, "target": event.target,
            "outcome": event.outcome, "detail": event.detail}


@audit.operation("GET", "/audit", summary="List operator actions, newest first",
                 role=Role.OPERATOR, response=page_of("AuditEvent"), query=PAGE_QUERY)
def list_audit(call: Call) -> Any:
    limit, offset = call.query["limit"], call.query["offset"]
    events, total = api_context().audit.list(limit=limit, offset=offset)
    return {"items": [event_json(e) for e in events], "total": total, "limit": limit,
            "offset": offset}
