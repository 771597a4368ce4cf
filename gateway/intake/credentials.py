"""Who is talking to the listener: client address ranges and HTTP Basic credentials.

PBKDF2 is deliberately slow, so a successful check is remembered as an HMAC of
the presented password under a per-process random key (never the password
itself); later requests with the same password skip the slow hash but are
still compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

from gateway.config import SourceConfig, password_matches


@dataclass(frozen=True)
class Identification:
    """Outcome of identifying a request: a source, or why there is none.

    `http_status` is 403 (client address not in any source's ranges) or
    401 (credentials missing or wrong) when `source` is None.
    """

    source: SourceConfig | None
    reason: str = ""
    http_status: int = 200
    claimed_source: str | None = None  # source the client address maps to, if any


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    """Split an `Authorization: Basic ...` header into (user, password), or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class SourceAuthenticator:
    """Identify the configured source of a request from its address and credentials."""

    def __init__(self, sources: tuple[SourceConfig, ...]) -> None:
        self._sources = sources
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def identify(self, client_address: str, authorization: str | None) -> Identification:
        """Identify the source, or say why not (never echoing the credentials)."""
        candidates = [s for s in self._sources if s.admits_client(client_address)]
        if not candidates:
            return Identification(None, f"client address {client_address} is not in any "
                                        "configured source's ranges", 403)
        claimed = candidates[0].name if len(candidates) == 1 else None
        credentials = parse_basic_auth(authorization)
        if credentials is None:
            return Identification(None, "missing HTTP Basic credentials", 401, claimed)
        user, password = credentials
        source = next((s for s in candidates if hmac.compare_digest(
            s.username.encode("utf-8"), user.encode("utf-8"))), None)
        if source is None or not self._password_ok(source, password):
            return Identification(None, "wrong credentials", 401, claimed)
        return Identification(source, claimed_source=source.name)

    def _password_ok(self, source: SourceConfig, password: str) -> bool:
        mac = hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()
        with self._lock:
            known = self._verified.get(source.name)
        if known is not None and hmac.compare_digest(known, mac):
            return True
        if not password_matches(password, source.password_hash):
            return False
        with self._lock:
            self._verified[source.name] = mac
        return True
