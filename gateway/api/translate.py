"""Errors of the other packages, as API errors (one place, so every route agrees).

Domain IllegalTransitionError -> 409, other domain errors -> 400, a missing
store record -> 404, a bad intake alert -> 400.
"""

from __future__ import annotations

from gateway.api.errors import ApiError, ApiNotFoundError, BadRequestError, ConflictError
from gateway.domain.errors import DomainError, IllegalTransitionError
from gateway.intake.errors import AlertFormatError, UntrustedAlertError
from gateway.store import NotFoundError


def translate(exc: Exception) -> ApiError | None:
    """The ApiError to render for `exc`, or None when it is unexpected (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, IllegalTransitionError):
        error = ConflictError(str(exc), code="illegal_transition")
        return error
    if isinstance(exc, DomainError):
        return BadRequestError(str(exc), code="invalid_model")
    if isinstance(exc, NotFoundError):
        return ApiNotFoundError(str(exc))
    if isinstance(exc, AlertFormatError):
        return BadRequestError(str(exc), code="invalid_alert")
    if isinstance(exc, UntrustedAlertError):
        return BadRequestError(str(exc), field="source", code="untrusted_source")
    return None
