"""The emulator's exception root and the errors that carry an HTTP meaning.

Third-party exceptions (libvirt, requests, firmware_payloads) are translated
into these at the edge, so the Redfish layer needs one error handler.
"""

from __future__ import annotations

from typing import Any


class EmulatorError(Exception):
    """Root of every error the emulator raises on purpose."""


class ConfigError(EmulatorError):
    """Invalid cluster configuration (bad node count, unknown model, busy port...)."""


class BackendError(EmulatorError):
    """The host backend (libvirt) failed; the message names the domain and operation."""


class NotSupported(BackendError):
    """The backend cannot do this (e.g. a driver without live device update)."""


class RedfishError(EmulatorError):
    """An error to render as a Redfish error body.

    status: HTTP status (4xx; 5xx only for ServiceTemporarilyUnavailable).
    message_id: a Base registry message key, e.g. "ResourceNotFound".
    message_args: values for the message's %1, %2... placeholders.
    headers: extra response headers (Retry-After, WWW-Authenticate...).
    """

    def __init__(
        self,
        status: int,
        message_id: str,
        *message_args: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message_id} {message_args}")
        self.status = status
        self.message_id = message_id
        self.message_args = tuple(str(arg) for arg in message_args)
        self.headers = headers or {}


class FirmwareError(EmulatorError):
    """An update failed; message_id names the Update registry message to report."""

    def __init__(self, message_id: str, component: str, detail: str) -> None:
        super().__init__(detail)
        self.message_id = message_id
        self.component = component
        self.detail = detail
        self.audited = False  # already in the audit log (and so the BMC's log and events)
