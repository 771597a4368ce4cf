"""The dashboard: server-rendered pages, refreshed in place by static/dashboard.js.

Pages read the same services as the API. The login page exchanges a token
for an HttpOnly, SameSite=Strict session cookie holding it, so revoking the
token ends the session at once; the script sends the CSRF header with every
change it makes.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Response, make_response, redirect, render_template, request, send_from_directory
from markupsafe import Markup

from gateway.api.auth import Role
from gateway.api.context import api_context
from gateway.api.errors import ApiError
from gateway.api.resources.alerts import alert_json
from gateway.api.resources.common import checked_id
from gateway.api.resources.images import image_json
from gateway.api.routing import HTML, Call, Resource, current_principal
from gateway.api.timeline_svg import legend_items, timeline_svg

resource = Resource("dashboard", "dashboard", url_prefix="")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SESSION_COOKIE = "ff_session"
SESSION_SECONDS = 12 * 3600
_PAGE = {"type": "string", "description": "HTML page"}
_LOGIN_CSS = Markup((STATIC_DIR / "dashboard.css").read_text(encoding="utf-8"))
_LOGIN_FORM = {"type": "object", "required": ["token"], "properties": {
    "token": {"type": "string"}, "next": {"type": "string"}}}


def _page(template: str, **values: Any) -> str:
    principal = current_principal()
    return render_template(template, principal=principal,
                           can_operate=bool(principal and principal.role.allows(Role.OPERATOR)),
                           **values)


def _login_page(error: str | None, target: str, status: int) -> Response:
    """The login page, styled by an inline stylesheet allowed by a per-response nonce."""
    nonce = secrets.token_urlsafe(16)
    page = render_template("login.html", error=error, next=target, principal=None,
                           style_nonce=nonce, inline_css=_LOGIN_CSS)
    response = Response(page, status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
        "frame-ancestors 'none'")
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect a freshly logged-in browser elsewhere."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@resource.operation("GET", "/login", summary="Show the login page", role=None,
                    response=_PAGE, response_media=HTML,
                    query={"next": {"type": "string", "maxLength": 2048,
                                    "description": "Page to return to (same site only)."}})
def login(call: Call) -> Any:
    return _login_page(None, _safe_next(call.query.get("next")), 200)


@resource.operation("POST", "/login", summary="Log in with an API token", role=None,
                    body=_LOGIN_FORM, body_media="application/x-www-form-urlencoded",
                    response=_PAGE, response_media=HTML, status=303)
def login_submit(call: Call) -> Any:
    token = request.form.get("token", "").strip()
    target = _safe_next(request.form.get("next"))
    principal = api_context().tokens.authenticate(token) if token else None
    if principal is None:
        return _login_page("That token is unknown, malformed or revoked.", target, 401)
    response = redirect(target, 303)
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_SECONDS, httponly=True,
                        samesite="Strict", secure=api_context().secure_cookies, path="/")
    return response


@resource.operation("POST", "/logout", summary="Log out", role=Role.VIEWER,
                    body={"type": "object", "properties": {}},
                    body_media="application/x-www-form-urlencoded",
                    response=_PAGE, response_media=HTML, status=303)
def logout(call: Call) -> Any:
    response = redirect("/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _operations_or_message() -> tuple[Any, str | None]:
    try:
        return api_context().require_operations(), None
    except ApiError as exc:
        return None, exc.message


@resource.operation("GET", "/", summary="Show clusters, groups and nodes", role=Role.VIEWER,
                    response=_PAGE, response_media=HTML)
def overview(call: Call) -> Any:
    operations, problem = _operations_or_message()
    clusters, nodes = ([], []) if operations is None else (operations.list_clusters(),
                                                           operations.list_nodes())
    by_id = {node.id: node for node in nodes}
    return _page("overview.html", clusters=clusters, nodes=by_id, problem=problem,
                 images=[image_json(i) for i in api_context().store.list_images()])


@resource.operation("GET", "/campaigns", summary="Show campaigns", role=Role.VIEWER,
                    response=_PAGE, response_media=HTML)
def campaigns_page(call: Call) -> Any:
    operations, problem = _operations_or_message()
    campaigns = [] if operations is None else operations.list_campaigns()
    return _page("campaigns.html", campaigns=campaigns, problem=problem)


@resource.operation("GET", "/campaigns/<campaign_id>", summary="Show one campaign live",
                    role=Role.VIEWER, response=_PAGE, response_media=HTML)
def campaign_page(call: Call, campaign_id: str) -> Any:
    operations = api_context().require_operations()
    campaign = operations.get_campaign(checked_id("campaign", campaign_id))
    timeline = Markup(timeline_svg(operations.campaign_timeline(campaign.id).to_json()))  # noqa: S704  (escaped by timeline_svg)
    return _page("campaign.html", campaign=campaign, timeline=timeline, legend=legend_items())


@resource.operation("GET", "/alerts", summary="Show the alert log with trust decisions",
                    role=Role.VIEWER, response=_PAGE, response_media=HTML)
def alerts_page(call: Call) -> Any:
    alerts = [alert_json(a) for a in api_context().store.list_alerts(200)]
    return _page("alerts.html", alerts=alerts)


@resource.operation("GET", "/compliance", summary="Show the compliance report",
                    role=Role.VIEWER, response=_PAGE, response_media=HTML)
def compliance_page(call: Call) -> Any:
    operations, problem = _operations_or_message()
    rows = [] if operations is None else operations.compliance()
    return _page("compliance.html", rows=rows, problem=problem)


@resource.operation("GET", "/static/<filename>", summary="Fetch a dashboard asset",
                    role=Role.VIEWER, response={"type": "string"},
                    response_media="application/octet-stream")
def static_file(call: Call, filename: str) -> Response:
    response = make_response(send_from_directory(STATIC_DIR, filename, max_age=300))
    return response
