"""/healthz (anonymous), /metrics and /api/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.metrics import CONTENT_TYPE
from gateway.api.routing import Call, Resource
from gateway.api.schemas import ref

resource = Resource("system", "system", url_prefix="")


@resource.operation("GET", "/healthz", summary="Report liveness", role=None,
                    response=ref("Health"))
def healthz(call: Call) -> Any:
    """Anonymous on purpose (load balancers); says nothing beyond up/down."""
    if not api_context().store.ping():
        return Response('{"status": "degraded", "database": "unreachable"}', 503,
                        mimetype="application/json")
    return {"status": "ok", "database": "ok"}


@resource.operation("GET", "/metrics", summary="Read Prometheus metrics", role=Role.VIEWER,
                    response={"type": "string"}, response_media="text/plain")
def metrics(call: Call) -> Response:
    return Response(api_context().metrics.render(), 200, content_type=CONTENT_TYPE)


@resource.operation("GET", "/api/openapi.json", summary="Read the OpenAPI document",
                    role=Role.VIEWER, response={"type": "object"})
def openapi(call: Call) -> Any:
    from gateway.api.openapi import openapi_document

    return openapi_document(current_app)
