"""The Flask application factory of the gateway's operator interfaces.

`create_app(context)` returns the WSGI app: REST API under /api/, the
dashboard at /, /healthz and /metrics. Every request except /healthz and the
login page is authenticated here, before routing, so even an unknown URL
answers 401 to an anonymous caller. Tokens come from `Authorization: Bearer`
or, for the dashboard, from the HttpOnly session cookie set by /login.
Errors of every kind leave as the JSON shape of gateway.api.errors (HTML
pages redirect an anonymous visitor to /login instead).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify, redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from gateway.api.context import CONTEXT_KEY, ApiContext, api_context
from gateway.api.errors import ApiError, ForbiddenError, UnauthorizedError, error_body
from gateway.api.resources import ALL_RESOURCES
from gateway.api.resources.dashboard import SESSION_COOKIE
from gateway.api.translate import translate

LOG = logging.getLogger(__name__)
CSRF_HEADER = "X-Requested-With"
CSRF_VALUE = "fleetflash"
ANONYMOUS_ENDPOINTS = frozenset({"system.healthz", "dashboard.login", "dashboard.login_submit"})
# Logging out is harmless if forged, and works from a plain form without script.
CSRF_EXEMPT_ENDPOINTS = frozenset({"dashboard.logout"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def create_app(context: ApiContext) -> Flask:
    """Build the app around `context` (see ApiContext). Nothing is started."""
    app = Flask("gateway.api", static_folder=None)
    app.config.update(JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=1024 * 1024)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[CONTEXT_KEY] = context
    for resource in ALL_RESOURCES:
        resource.register(app)
    app.before_request(_authenticate)
    app.after_request(_security_headers)
    app.register_error_handler(Exception, _handle_error)
    return app


def _wants_html() -> bool:
    return not (request.path.startswith("/api/") or request.path in ("/metrics", "/healthz"))


def _authenticate() -> BaseResponse | None:
    g.principal = None
    if request.endpoint in ANONYMOUS_ENDPOINTS:
        return None
    header = request.headers.get("Authorization")
    via_cookie = False
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("Authorization header must be 'Bearer <token>'")
        token = token.strip()
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
        via_cookie = bool(token)
    if not token:
        if _wants_html():
            return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
        raise UnauthorizedError("a bearer token is required")
    principal = api_context().tokens.authenticate(token)
    if principal is None:
        if via_cookie and _wants_html():
            return redirect(url_for("dashboard.login"))
        raise UnauthorizedError("the token is unknown, malformed or revoked")
    # A cookie travels with any request the browser makes; a custom header cannot be set
    # by another origin without CORS, so it proves the dashboard's own script sent it.
    if via_cookie and request.method not in _SAFE_METHODS and \
            request.endpoint not in CSRF_EXEMPT_ENDPOINTS and \
            request.headers.get(CSRF_HEADER) != CSRF_VALUE:
        raise ForbiddenError(f"cookie-authenticated changes need the {CSRF_HEADER} header")
    g.principal = principal
    return None


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'")
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def _handle_error(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        code = {404: "not_found", 405: "method_not_allowed",
                413: "body_too_large"}.get(status, "http_error")
        message = {404: "no such resource", 405: f"method {request.method} not allowed here",
                   413: "request body too large"}.get(status, exc.name)
        response = jsonify(error_body(status, code, message))
        response.status_code = status
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response
    api_error = translate(exc)
    if api_error is None:
        # Log the class and traceback for the operator; the client gets no internals.
        LOG.exception("unexpected error in %s %s", request.method, request.path)
        api_error = ApiError("internal error; see the gateway log")
    response = jsonify(api_error.body())
    response.status_code = api_error.status
    if api_error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="fleetflash"'
    return response
