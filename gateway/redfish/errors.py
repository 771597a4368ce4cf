"""The one exception root of the Redfish adapter, and the translation at its edge.

Every sushy or requests exception that leaves this package is translated
into a RedfishError subclass carrying ``transient``: True when the same call
may succeed later (connection refused while a BMC restarts, 5xx, 429, a
timeout), False when retrying cannot help (bad credentials, certificate
mismatch, a 400, a missing capability). Messages name the BMC and what was
being done; they never contain credentials.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from sushy import exceptions as sushy_exc

from gateway.redfish.common import parse_retry_after

LOG = logging.getLogger(__name__)

# 408 Request Timeout, 409 Conflict (Redfish ResourceInUse: the host is in the
# middle of a reset, a task holds the resource), 429 Too Many Requests, 503
# Service Unavailable and the other 5xx answers are what a busy or restarting
# BMC says: worth retrying with backoff.
_TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
# What a BMC answers to a request that may start an update while it is busy (Redfish
# ResourceInUse, Too Many Requests, bmcweb's 503 + Retry-After): the only statuses an
# update request is retried for, besides the vendor messages below. Any other refusal
# of an update request is reported as the BMC said it (docs/interop.md, "Vendor quirks").
_BUSY_STATUSES = frozenset({409, 429, 503})
# Vendor refusals that mean "not now" (sushy's connector retries the first two too):
# iDRAC not ready after a previous operation; iLO while the host is in POST.
KNOWN_TRANSIENT_MESSAGES = ("SYS518", "InvalidOperationForSystemState",
                            "UnableToModifyDuringSystemPOST")


def known_transient(text: str) -> bool:
    """True when a BMC's error text names one of the known transient vendor refusals."""
    return any(marker in text for marker in KNOWN_TRANSIENT_MESSAGES)


class RedfishError(Exception):
    """Root of every error raised by gateway.redfish."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        # Seconds the BMC asked us to wait (Retry-After), when it said.
        self.retry_after = retry_after


class BmcUnreachableError(RedfishError):
    """No answer: connection refused or reset, DNS failure, timeout. Transient."""

    transient = True


class BmcBusyError(RedfishError):
    """The BMC answered 5xx, 408, 409 or 429, or a known transient vendor refusal (an
    update request: only 409, 429, 503 and those refusals). Transient."""

    transient = True


class TlsError(RedfishError):
    """The certificate did not verify or did not match the pinned fingerprint."""


class AuthenticationError(RedfishError):
    """The BMC refused the credentials (401/403)."""


class ResourceMissingError(RedfishError):
    """A resource the gateway needs is not there (404)."""


class RequestRejectedError(RedfishError):
    """The BMC refused the request (4xx other than auth/404), e.g. a bad parameter."""


class NotSupportedError(RedfishError):
    """The BMC does not offer the capability asked for (no action, no URI)."""


class TaskFailedError(RedfishError):
    """A Redfish task ended in Exception, Killed or Cancelled."""


class OperationTimeoutError(RedfishError):
    """A wait (task, BMC back) ran past its deadline. Transient: it may still finish."""

    transient = True


class ConfigurationError(RedfishError):
    """A BMC registration is invalid (bad URL, bad fingerprint, conflicting TLS options)."""


def _http_error(exc: sushy_exc.HTTPError, doing: str, strict: bool) -> RedfishError:
    status = exc.status_code
    detail = exc.detail or exc.code or "no detail"
    # The MessageIds too: they, not the prose, say what the BMC meant (SYS518, ...).
    ids = [str(m["MessageId"]) for m in exc.extended_info or []
           if isinstance(m, dict) and m.get("MessageId")]
    said_ids = f" [{', '.join(ids)}]" if ids else ""
    message = f"{doing}: HTTP {status} ({detail}){said_ids}"
    raw = getattr(exc, "said", None)  # set by FleetConnector for a non-Redfish error body
    if isinstance(raw, str):
        message = f"{doing}: HTTP {status}, not a Redfish error document: {raw}"
    if isinstance(exc, sushy_exc.AccessError) or status in (401, 403):
        return AuthenticationError(f"{doing}: the BMC refused the credentials (HTTP {status})",
                                   status=status)
    if isinstance(exc, sushy_exc.ResourceNotFoundError) or status == 404:
        return ResourceMissingError(message, status=status)
    # Set by FleetConnector: sushy's errors do not keep their response's headers.
    wish = getattr(exc, "retry_after", None)
    retry_after = parse_retry_after(wish) if isinstance(wish, str) and wish.strip() else None
    said = f"{exc.code} {detail} {exc.extended_info}"
    busy = _BUSY_STATUSES if strict else _TRANSIENT_STATUSES
    if (status is not None and status in busy) or known_transient(said):
        return BmcBusyError(message, status=status, retry_after=retry_after)
    return RequestRejectedError(message, status=status)


def translate(exc: BaseException, doing: str, *, strict: bool = False) -> RedfishError:
    """Our error for a sushy/requests exception raised while ``doing`` (a short phrase).
    ``strict``: a request that may start an update, retried only for busy answers and
    the known transient vendor refusals (never for any 5xx)."""
    if isinstance(exc, RedfishError):
        return exc
    if isinstance(exc, sushy_exc.HTTPError):
        return _http_error(exc, doing, strict)
    if isinstance(exc, requests.exceptions.SSLError) or (
        isinstance(exc, sushy_exc.ConnectionError) and "SSL" in str(exc)
    ):
        return TlsError(f"{doing}: TLS verification failed ({_first_line(exc)})")
    if isinstance(exc, sushy_exc.ConnectionError | requests.exceptions.ConnectionError
                  | requests.exceptions.Timeout | ConnectionError | TimeoutError):
        return BmcUnreachableError(f"{doing}: no answer from the BMC ({_first_line(exc)})")
    if isinstance(exc, sushy_exc.MissingAttributeError | sushy_exc.MissingActionError):
        return NotSupportedError(f"{doing}: {_first_line(exc)}")
    if isinstance(exc, sushy_exc.InvalidParameterValueError):
        return RequestRejectedError(f"{doing}: {_first_line(exc)}")
    if isinstance(exc, json.JSONDecodeError):
        return RequestRejectedError(f"{doing}: the BMC's answer is not JSON ({exc.msg} at "
                                    f"character {exc.pos}): {quoted(exc.doc)}")
    if isinstance(exc, sushy_exc.SushyError | requests.exceptions.RequestException
                  | ValueError | KeyError | TypeError | AttributeError):
        # ValueError/KeyError/TypeError/AttributeError: a malformed payload from the BMC
        # (a value of the wrong type where a resource reader expected another).
        return RequestRejectedError(f"{doing}: unexpected answer ({_first_line(exc)})")
    raise exc


# Values of these keys never appear in a quote of what a BMC said.
_SECRET = re.compile(r'("[^"]*(?:password|token|secret|key)[^"]*"\s*:\s*)"[^"]*"',
                     re.IGNORECASE)
QUOTE_CHARS = 160


def quoted(said: str | bytes) -> str:
    """What a BMC said, for an error message: one line, at most QUOTE_CHARS characters,
    values of secret-looking keys blanked, "(empty)" for nothing."""
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else said
    text = _SECRET.sub(r'\1"***"', " ".join(text.split()))
    if not text:
        return "(empty)"
    return repr(text[:QUOTE_CHARS] + ("…" if len(text) > QUOTE_CHARS else ""))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


@contextmanager
def translated(doing: str, *, strict: bool = False) -> Iterator[None]:
    """Run the block, translating third-party exceptions into RedfishError (``strict``:
    see translate)."""
    try:
        yield
    except RedfishError:
        raise
    except (sushy_exc.SushyError, requests.exceptions.RequestException, OSError,
            ValueError, KeyError, TypeError, AttributeError) as exc:
        raise translate(exc, doing, strict=strict) from exc
