"""The admin endpoint: inject and clear faults over HTTP (not part of Redfish).

It listens on its own port (so an "unreachable" BMC can still be healed) and
accepts only ``Authorization: Bearer <admin token>``. Routes:

- GET    /faults                  every BMC's active faults
- GET    /faults/<bmc>            one BMC's active faults
- PUT    /faults/<bmc>/<kind>     activate; JSON body = parameters (may be empty)
- DELETE /faults/<bmc>/<kind>     clear one kind
- DELETE /faults/<bmc>            clear all of that BMC's faults

Errors are JSON ``{"error": "..."}`` with 400, 401 or 404.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from emulator.errors import ConfigError
from emulator.faults import FaultSet


class AdminError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def _json(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, mimetype="application/json")


def create_admin_app(token: str, faults_of: Callable[[str], FaultSet | None],
                     bmc_ids: Callable[[], list[str]]) -> Flask:
    """The admin WSGI app; faults_of(bmc id) returns that BMC's FaultSet or None."""
    app = Flask("emulator.admin")
    expected = f"Bearer {token}".encode()

    @app.before_request
    def authenticate() -> None:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise AdminError(401, "admin token required (Authorization: Bearer ...)")

    def faults(bmc_id: str) -> FaultSet:
        found = faults_of(bmc_id)
        if found is None:
            raise AdminError(404, f"no BMC {bmc_id!r}")
        return found

    @app.get("/faults")
    def all_faults() -> Response:
        return _json({bmc_id: [f.to_json() for f in faults(bmc_id).all()]
                      for bmc_id in bmc_ids()})

    @app.get("/faults/<bmc_id>")
    def bmc_faults(bmc_id: str) -> Response:
        return _json([f.to_json() for f in faults(bmc_id).all()])

    @app.put("/faults/<bmc_id>/<kind>")
    def set_fault(bmc_id: str, kind: str) -> Response:
        target = faults(bmc_id)
        raw = request.get_data()
        try:
            params = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise AdminError(400, "body must be a JSON object of fault parameters") from None
        if not isinstance(params, dict):
            raise AdminError(400, "body must be a JSON object of fault parameters")
        try:
            fault = target.set(kind, **params)
        except ConfigError as exc:
            raise AdminError(400, str(exc)) from exc
        return _json(fault.to_json())

    @app.delete("/faults/<bmc_id>/<kind>")
    def clear_fault(bmc_id: str, kind: str) -> Response:
        target = faults(bmc_id)
        try:
            target.clear(kind)
        except ValueError:
            raise AdminError(400, f"unknown fault kind {kind!r}") from None
        return _json([f.to_json() for f in target.all()])

    @app.delete("/faults/<bmc_id>")
    def clear_all(bmc_id: str) -> Response:
        faults(bmc_id).clear()
        return _json([])

    @app.errorhandler(AdminError)
    def admin_error(error: AdminError) -> Response:
        return _json({"error": str(error)}, error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return _json({"error": error.name}, error.code or 400)

    return app
