"""The API's exception root and its one JSON error shape.

Every error response body is::

    {"error": {"status": 400, "code": "invalid_field", "message": "...", "field": "limit"}}

``field`` is present only when one request field is at fault (a dotted path
for nested JSON, the parameter name for query strings). Messages never carry
secrets: they name what was wrong, not the value that was sent.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Root of every error of gateway.api. `status` is the HTTP status code it renders as
    (0 for a client error that got no answer)."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None,
                 code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        """The JSON body of the response."""
        error: dict[str, Any] = {"status": self.status, "code": self.code,
                                 "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class BadRequestError(ApiError):
    """Malformed JSON, an unknown field, a wrong type or an out-of-range value."""

    status = 400
    code = "invalid_request"


class UnauthorizedError(ApiError):
    """No token, a malformed one, an unknown one or a revoked one."""

    status = 401
    code = "unauthorized"


class ForbiddenError(ApiError):
    """The token is valid but its role may not do this."""

    status = 403
    code = "forbidden"


class ApiNotFoundError(ApiError):
    """No such resource (or route)."""

    status = 404
    code = "not_found"


class ConflictError(ApiError):
    """The action is not legal in the resource's current state."""

    status = 409
    code = "conflict"


class UnavailableError(ApiError):
    """A part the request needs is not running in this gateway (e.g. no orchestrator)."""

    status = 503
    code = "unavailable"


def error_body(status: int, code: str, message: str,
               field: str | None = None) -> dict[str, Any]:
    """The standard body for errors raised outside ApiError (Werkzeug HTTP errors)."""
    return ApiError(message, field=field, code=code, status=status).body()
