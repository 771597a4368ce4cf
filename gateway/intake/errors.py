"""Exception root of the intake service."""

from __future__ import annotations


class IntakeError(Exception):
    """Root of intake errors; messages name the problem and never hold secrets."""


class AlertFormatError(IntakeError):
    """An alert's properties are missing, mistyped or malformed."""


class UntrustedAlertError(IntakeError):
    """The alert's source, OwningEntity or URI is not trusted."""


class AcquisitionError(IntakeError):
    """Fetching or verifying an image failed.

    `permanent` is True when retrying cannot help (the bytes or the signature
    are wrong); False for transient faults (connection dropped, server error).
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
