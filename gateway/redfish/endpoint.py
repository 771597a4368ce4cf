"""A BMC registration: where it is, how to log in, how to trust its certificate."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from gateway.redfish.errors import ConfigurationError

LOG = logging.getLogger(__name__)

_HEX_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_ROOT_PATHS = {"", "/", "/redfish", "/redfish/", "/redfish/v1", "/redfish/v1/"}
_SYSTEM_PATH = re.compile(r"^/redfish/v1/Systems/[^/?#]+/?$")
# ``system`` of a registration still to be expanded into one node per system
# (``systems = "all"``); such an endpoint is never driven itself.
ALL_SYSTEMS = "*"


def system_key(selector: str | None) -> str:
    """The system a selector names, as compared between registrations: the last
    path segment of a path, the id itself otherwise ("" = not chosen)."""
    if not selector:
        return ""
    return selector.rstrip("/").rsplit("/", 1)[-1]


class TlsMode(StrEnum):
    """VERIFY: the certificate must chain to a trusted CA (system store or ``ca_bundle``).
    PIN: any certificate is accepted only if its SHA-256 fingerprint matches.
    INSECURE: no verification at all; allowed per BMC and logged as a warning."""

    VERIFY = "verify"
    PIN = "pin"
    INSECURE = "insecure"


def normalise_fingerprint(text: str) -> str:
    """SHA-256 fingerprint as 64 lowercase hex digits; accepts "AB:CD:..." and "sha256:..."."""
    cleaned = text.strip().lower().removeprefix("sha256:").replace(":", "").replace(" ", "")
    if not _HEX_FINGERPRINT.match(cleaned):
        raise ConfigurationError(
            "certificate fingerprint must be a SHA-256 digest (64 hex digits, colons allowed)"
        )
    return cleaned


@dataclass(frozen=True)
class BmcEndpoint:
    """One BMC to manage.

    ``url``: scheme and authority of the Redfish service, e.g.
    ``https://10.0.0.5``; a path may name the service root (``/redfish/v1``) or
    one system (``/redfish/v1/Systems/<id>``, which sets ``system``); any other
    path is refused. ``system``: the ComputerSystem to manage behind a root that
    serves several, as its id or its path (None: the root must serve exactly
    one). ``tls``: how its
    certificate is trusted (only meaningful for https). ``fingerprint``: the
    pinned SHA-256 certificate fingerprint for TlsMode.PIN. ``ca_bundle``: a
    CA file or directory for TlsMode.VERIFY. ``timeout``: seconds per HTTP
    request. The password never appears in repr or logs.
    Raises ConfigurationError for an unusable registration.
    """

    name: str
    url: str
    username: str
    password: str = field(repr=False)
    tls: TlsMode = TlsMode.VERIFY
    fingerprint: str | None = None
    ca_bundle: str | None = None
    timeout: float = 30.0
    system: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                f"BMC {self.name!r}: URL must be http(s)://host[:port], got {self.url!r}"
            )
        self._system_from_path(parts.path)
        if parts.username or parts.password:
            raise ConfigurationError(
                f"BMC {self.name!r}: put credentials in username/password, not in the URL"
            )
        if not self.username:
            raise ConfigurationError(f"BMC {self.name!r}: a username is required")
        if self.tls is TlsMode.PIN:
            if not self.fingerprint:
                raise ConfigurationError(f"BMC {self.name!r}: tls=pin needs a fingerprint")
            object.__setattr__(self, "fingerprint", normalise_fingerprint(self.fingerprint))
        elif self.fingerprint is not None:
            raise ConfigurationError(f"BMC {self.name!r}: a fingerprint is only used with tls=pin")
        if self.ca_bundle is not None and self.tls is not TlsMode.VERIFY:
            raise ConfigurationError(f"BMC {self.name!r}: ca_bundle is only used with tls=verify")
        if self.timeout <= 0:
            raise ConfigurationError(f"BMC {self.name!r}: timeout must be > 0 seconds")
        object.__setattr__(self, "url", f"{parts.scheme}://{parts.netloc}")

    def _system_from_path(self, path: str) -> None:
        if self.system is not None and (not self.system.strip() or len(self.system) > 256):
            raise ConfigurationError(f"BMC {self.name!r}: system must be a system id or path")
        if path in _ROOT_PATHS:
            return
        if not _SYSTEM_PATH.match(path):
            raise ConfigurationError(
                f"BMC {self.name!r}: URL path {path!r} is neither the service root "
                "(/redfish/v1) nor one system (/redfish/v1/Systems/<id>)")
        chosen = path.rstrip("/")
        if self.system == ALL_SYSTEMS:
            raise ConfigurationError(f"BMC {self.name!r}: systems = \"all\" needs the service "
                                     f"root URL, not one system's ({path})")
        if self.system is not None and system_key(self.system) != system_key(chosen):
            raise ConfigurationError(
                f"BMC {self.name!r}: the URL names system {chosen!r} but system is "
                f"{self.system!r}")
        object.__setattr__(self, "system", chosen)

    @property
    def service(self) -> tuple[str, str]:
        """What two registrations must not share: the service (host in lower case, the
        port spelled out) and the system chosen."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = (parts.hostname or "").lower()
        host = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{host}:{port}", system_key(self.system)

    @property
    def is_https(self) -> bool:
        return self.url.startswith("https://")

    def requests_verify(self) -> bool | str:
        """The ``verify`` argument for requests: a CA path, True, or False (pin/insecure)."""
        if not self.is_https or self.tls is TlsMode.VERIFY:
            return self.ca_bundle or True
        # PIN disables chain verification; the pinning adapter checks the fingerprint.
        return False

    def warn_if_insecure(self) -> None:
        """Log the insecure choices this registration makes (once per connection)."""
        host = urlsplit(self.url).hostname or ""
        if self.is_https and self.tls is TlsMode.INSECURE:
            LOG.warning("BMC %s (%s): TLS certificate verification is OFF by configuration",
                        self.name, self.url)
        if not self.is_https and host not in _LOOPBACK:
            LOG.warning("BMC %s (%s): plain HTTP, credentials travel unencrypted",
                        self.name, self.url)
