"""The OpenAPI 3.0 document, generated from the registered operations.

Because routes and document come from the same `Operation` records, a route
cannot exist undocumented; tests/unit/gateway/api checks that and validates
the document with openapi-spec-validator.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from gateway.api.routing import JSON, Operation, registered_operations
from gateway.api.schemas import COMPONENTS, ref

API_VERSION = "1.0.0"
_ERROR_TEXT = {
    400: "Malformed JSON, unknown field, wrong type or out-of-range value (field named)",
    401: "Missing, malformed, unknown or revoked token",
    403: "The token's role may not do this",
    404: "No such resource",
    409: "Not allowed in the resource's current state",
    503: "The part of the gateway this needs is not running",
}


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI document for every operation registered on `app`."""
    paths: dict[str, dict[str, Any]] = {}
    for op in registered_operations(app):
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.0.3",
        "info": {"title": "fleetflash gateway API", "version": API_VERSION,
                 "description": "Clusters, nodes, alerts, images, campaigns and reports of "
                                "one fleetflash gateway. Errors share the Error shape."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Token from `fleetflash tokens "
                                                          "create`; roles viewer < operator "
                                                          "< admin."}},
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "operationId": op.endpoint.replace(".", "_"),
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(op),
    }
    if op.role is None:
        document["security"] = []
    else:
        document["description"] = f"Requires role {op.role.value} or higher."
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in op.path_params]
    parameters += [{"name": name, "in": "query", "required": False, "schema": dict(schema)}
                   for name, schema in op.query.items()]
    if parameters:
        document["parameters"] = parameters
    if op.body is not None and op.method != "GET":
        document["requestBody"] = {"required": bool(op.body.get("required")),
                                   "content": {op.body_media: {"schema": dict(op.body)}}}
    return document


def _responses(op: Operation) -> dict[str, Any]:
    content_schema = op.response if op.response is not None else {"type": "string"}
    responses: dict[str, Any] = {
        str(op.status): {"description": op.summary,
                         "content": {op.response_media: {"schema": content_schema}}},
    }
    errors = [400]
    if op.role is not None:
        errors += [401, 403]
    if op.may_be_missing:
        errors.append(404)
    if op.may_conflict:
        errors.append(409)
    if op.response_media == JSON and op.tag not in ("system", "tokens", "audit", "alerts",
                                                     "images"):
        errors.append(503)
    for status in errors:
        responses[str(status)] = {"description": _ERROR_TEXT[status],
                                  "content": {JSON: {"schema": ref("Error")}}}
    for status, (description, schema) in sorted(op.also.items()):
        responses[str(status)] = {"description": description,
                                  "content": {JSON: {"schema": dict(schema)}}}
    return responses
