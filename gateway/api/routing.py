"""Declaring API operations once: route, role, input schemas, response schema, audit.

A `Resource` wraps one Flask blueprint. Each `@resource.operation(...)` both
registers the Flask view and records an `Operation`, from which the OpenAPI
document is generated, so the document cannot drift from the routes. The
wrapper around every view does, in order: role check (the caller was already
authenticated by the app), query and body validation, the call, the audit
record for state-changing operations, and JSON rendering.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request

from gateway.api.auth import Principal, Role
from gateway.api.context import api_context
from gateway.api.errors import ForbiddenError, UnauthorizedError
from gateway.api.translate import translate
from gateway.api.validation import Schema, parse_json_body, parse_query

OPERATIONS_KEY = "fleetflash.operations"
JSON = "application/json"
HTML = "text/html"
_RULE_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-z_]+)>")
_EMPTY_OBJECT: Schema = {"type": "object", "additionalProperties": False, "properties": {}}


@dataclass(frozen=True)
class Operation:
    """One documented route. `role` None means anonymous (only /healthz and login)."""

    endpoint: str
    method: str
    rule: str
    summary: str
    tag: str
    role: Role | None
    query: Mapping[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    body_media: str = JSON
    response: Schema | None = None
    response_media: str = JSON
    status: int = 200
    audit: str | None = None
    may_conflict: bool = False
    may_be_missing: bool = False
    # Further documented answers: status -> (description, body schema).
    also: Mapping[int, tuple[str, Schema]] = field(default_factory=dict)

    @property
    def openapi_path(self) -> str:
        """The rule with Flask's <converter:name> written as OpenAPI's {name}."""
        return _RULE_PARAM.sub(r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return _RULE_PARAM.findall(self.rule)


@dataclass(frozen=True)
class Call:
    """What a view receives besides its path parameters."""

    principal: Principal | None
    query: dict[str, Any]
    body: dict[str, Any]


View = Callable[..., Any]


class Resource:
    """A blueprint whose routes are declared with `operation`."""

    def __init__(self, name: str, tag: str, url_prefix: str = "/api") -> None:
        self.blueprint = Blueprint(name, __name__, url_prefix=url_prefix or None)
        self.tag = tag
        self.prefix = url_prefix
        self.operations: list[Operation] = []

    def operation(self, method: str, rule: str, *, summary: str, role: Role | None,
                  response: Schema | None = None, query: Mapping[str, Schema] | None = None,
                  body: Schema | None = None, body_media: str = JSON, status: int = 200,
                  response_media: str = JSON, audit: str | None = None,
                  may_conflict: bool = False, name: str | None = None,
                  also: Mapping[int, tuple[str, Schema]] | None = None
                  ) -> Callable[[View], View]:
        """Register `view` for `method rule`; see Operation for the meaning of each field.

        `name` overrides the endpoint name (default: the view's function name).
        The view is called as view(call, **path_params) and returns a JSON-able
        value (rendered with `status`) or a Flask Response.
        """

        def decorator(view: View) -> View:
            view_name = name or view.__name__
            op = Operation(
                endpoint=f"{self.blueprint.name}.{view_name}", method=method.upper(),
                rule=self.prefix + rule, summary=summary, tag=self.tag, role=role,
                query=dict(query or {}),
                body=body if body is not None or method.upper() == "GET" else _EMPTY_OBJECT,
                body_media=body_media, response=response, response_media=response_media,
                status=status, audit=audit, may_conflict=may_conflict,
                may_be_missing=bool(_RULE_PARAM.search(rule)), also=dict(also or {}))
            self.operations.append(op)

            def handler(**path_params: Any) -> Any:
                return _dispatch(op, view, path_params)

            handler.__name__ = view_name
            handler.__doc__ = view.__doc__
            self.blueprint.add_url_rule(rule, view_name, handler, methods=[op.method])
            return view

        return decorator

    def register(self, app: Flask) -> None:
        """Add the blueprint to `app` and its operations to the app's registry."""
        app.register_blueprint(self.blueprint)
        app.extensions.setdefault(OPERATIONS_KEY, []).extend(self.operations)


def registered_operations(app: Flask) -> list[Operation]:
    """Every operation registered on `app`, in registration order."""
    return list(app.extensions.get(OPERATIONS_KEY, []))


def current_principal() -> Principal | None:
    """Who is calling (set by the app's authentication hook), or None."""
    principal = g.get("principal")
    return principal if isinstance(principal, Principal) else None


def _dispatch(op: Operation, view: View, path_params: dict[str, Any]) -> Any:
    principal = current_principal()
    if op.role is not None:
        if principal is None:
            raise UnauthorizedError("a bearer token is required")
        if not principal.role.allows(op.role):
            raise ForbiddenError(f"role {principal.role.value!r} may not {op.summary.lower()} "
                                 f"(needs {op.role.value})")
    if op.audit is None or principal is None:
        return _render(op, view(_call(op, principal), **path_params))
    audit = api_context().audit
    target = request.path
    try:
        call = _call(op, principal)
        result = view(call, **path_params)
    except Exception as exc:
        api_error = translate(exc)
        if api_error is None:
            audit.record(principal, op.audit, target, "error", exc.__class__.__name__)
            raise
        outcome = "refused" if api_error.status < 500 else "error"
        audit.record(principal, op.audit, target, outcome,
                     f"{api_error.status} {api_error.message}")
        if api_error is exc:
            raise
        raise api_error from exc
    audit.record(principal, op.audit, target, "ok", str(call.body.get("reason", "")))
    return _render(op, result)


def _call(op: Operation, principal: Principal | None) -> Call:
    query = parse_query(request.args, op.query)
    body: dict[str, Any] = {}
    if op.body is not None and op.body_media == JSON:
        body = parse_json_body(request.get_data(cache=True), request.content_type, op.body)
    return Call(principal, query, body)


def _render(op: Operation, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if op.response_media == HTML and isinstance(result, str):
        return Response(result, op.status, mimetype=HTML)
    response = jsonify(result)
    response.status_code = op.status
    return response
