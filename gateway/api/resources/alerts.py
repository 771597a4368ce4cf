"""/api/alerts: every alert received with its trust decision, and the REST trigger.

POST /api/alerts is the "other trigger" of the intake: it raises the same
FWUP0001 a CIM publisher would, on behalf of a configured source, through
IntakeService.raise_alert, so every trust rule applies.
"""

from __future__ import annotations

from typing import Any

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.errors import BadRequestError, ConflictError
from gateway.api.routing import Call, Resource
from gateway.api.schemas import NAME, SHA256, enum_of, page_of, ref
from gateway.api.validation import PAGE_QUERY
from gateway.intake.service import CHANNEL_REST, Outcome
from gateway.store import AlertRecord, Decision

resource = Resource("alerts", "alerts")

_URI = {"type": "string", "minLength": 8, "maxLength": 2048, "pattern": "^https?://"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 256}
RAISE_BODY = {
    "type": "object", "additionalProperties": False,
    "required": ["source", "image_uri", "sha256", "bundle_id", "release"],
    "properties": {
        "source": NAME, "image_uri": _URI, "sha256": SHA256, "bundle_id": _TEXT,
        "release": _TEXT, "manifest_uri": _URI,
        "description": {"type": "string", "maxLength": 4096},
    },
}
WITHDRAW_BODY = {
    "type": "object", "additionalProperties": False,
    "required": ["source", "sha256", "bundle_id"],
    "properties": {"source": NAME, "sha256": SHA256, "bundle_id": _TEXT},
}


def alert_json(alert: AlertRecord) -> dict[str, Any]:
    """An alert as the API shows it (profile property names where they exist)."""
    return {
        "id": alert.id, "received_at": alert.received_at.isoformat(), "channel": alert.channel,
        "IndicationIdentifier": alert.indication_identifier, "source": alert.source,
        "client_address": alert.client_address, "MessageID": alert.message_id,
        "decision": str(alert.decision), "reason": alert.reason,
        "image_sha256": alert.image_sha256, "image_uri": alert.image_uri,
        "bundle_id": alert.bundle_id, "release": alert.release,
    }


@resource.operation("GET", "/alerts", summary="List alerts received, newest first",
                    role=Role.VIEWER, response=page_of("Alert"),
                    query={**PAGE_QUERY, "decision": enum_of(Decision)})
def list_alerts(call: Call) -> Any:
    limit, offset = call.query["limit"], call.query["offset"]
    decision = call.query.get("decision")
    alerts, total = api_context().store.alert_page(
        limit=limit, offset=offset, decision=Decision(decision) if decision else None)
    return {"items": [alert_json(a) for a in alerts], "total": total, "limit": limit,
            "offset": offset}


def _answer(outcome: Outcome) -> dict[str, Any]:
    """The outcome as the API shows it, or the refusal as an error. Untrusted input is
    the caller's mistake (400); a refusal because of the image's state (e.g. withdrawn)
    conflicts with that state (409). Both are recorded alerts."""
    if outcome.refused:
        message = f"alert {outcome.alert_id} rejected: {outcome.reason}"
        if outcome.untrusted:
            raise BadRequestError(message, code="untrusted_alert")
        raise ConflictError(message, code="alert_rejected")
    return {"alert_id": outcome.alert_id, "decision": str(outcome.decision),
            "reason": outcome.reason, "image_sha256": outcome.image_sha256}


@resource.operation("POST", "/alerts", summary="Raise an update alert (FWUP0001)",
                    role=Role.OPERATOR, body=RAISE_BODY, response=ref("AlertOutcome"),
                    status=201, audit="alert.raise", may_conflict=True)
def raise_alert(call: Call) -> Any:
    """409 when the trust rules refuse it (the refusal is recorded like a CIM alert's)."""
    body = call.body
    return _answer(api_context().require_intake().raise_alert(
        source=body["source"], image_uri=body["image_uri"], image_sha256=body["sha256"],
        bundle_id=body["bundle_id"], release=body["release"],
        manifest_uri=body.get("manifest_uri"), description=body.get("description"),
        channel=CHANNEL_REST))


@resource.operation("POST", "/alerts/withdrawals", summary="Withdraw an image (FWUP0002)",
                    role=Role.OPERATOR, body=WITHDRAW_BODY, response=ref("AlertOutcome"),
                    status=201, audit="alert.withdraw", may_conflict=True)
def withdraw_image(call: Call) -> Any:
    body = call.body
    return _answer(api_context().require_intake().withdraw_image(
        source=body["source"], bundle_id=body["bundle_id"], image_sha256=body["sha256"],
        channel=CHANNEL_REST))
