"""Who is talking to the listener: client address ranges and HTTP Basic credentials.

PBKDF2 is deliberately slow, so a successful check is remembered as an HMAC of
the presented password under a per-process random key (never the password
itself); later requests with the same password skip the slow hash but are
still compared in constant time.

Password guessing is slowed per client address (`LoginBackoff`, [login_backoff]):
after `failures` failed logins from an address, it waits `base_delay_s`, doubling
with every further failure up to `max_delay_s`; during the wait its logins are
refused (429 with Retry-After) without any password check, and when it ends one
attempt (not several in parallel) is checked. So an address costs the gateway at
most one PBKDF2 per backoff window, and its failures never lock out another
address, whose correct login goes through as usual.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.config import GatewayConfig, SourceConfig, password_matches
from gateway.config_model import LoginBackoffTable

MAX_TRACKED_ADDRESSES = 10_000  # oldest forgotten first: memory stays bounded


@dataclass(frozen=True)
class Identification:
    """Outcome of identifying a request: a source, or why there is none.

    `http_status` is 403 (client address not in any source's ranges), 401
    (credentials missing or wrong) or 429 (the address is backing off after failed
    logins; `retry_after_s` says for how long) when `source` is None.
    """

    source: SourceConfig | None
    reason: str = ""
    http_status: int = 200
    claimed_source: str | None = None  # source the client address maps to, if any
    retry_after_s: int = 0


# The validated [login_backoff] table is the settings object itself (one typed reader).
BackoffSettings = LoginBackoffTable


def backoff_settings(config: GatewayConfig) -> BackoffSettings:
    """[login_backoff] of `config`."""
    return config.file.login_backoff


@dataclass
class _Address:
    failures: int = 0
    blocked_until: float = 0.0
    checking: bool = False  # one password check in progress for this address


@dataclass
class LoginBackoff:
    """Failed logins per client address and the exponential wait they earn."""

    settings: BackoffSettings = field(default_factory=BackoffSettings)
    clock: Callable[[], float] = time.monotonic
    _addresses: OrderedDict[str, _Address] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, address: str) -> float:
        """0 when a password check from `address` may run now (call `done` after it),
        else the seconds to wait."""
        with self._lock:
            state = self._addresses.get(address)
            if state is None or state.failures < self.settings.failures:
                return 0.0
            wait = state.blocked_until - self.clock()
            if wait > 0:
                return wait
            if state.checking:
                return self.settings.base_delay_s  # one check per window, not a burst
            state.checking = True
            return 0.0

    def done(self, address: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._addresses.pop(address, None)
                return
            state = self._addresses.pop(address, None) or _Address()
            self._addresses[address] = state  # most recent last
            state.checking = False
            state.failures += 1
            excess = state.failures - self.settings.failures
            if excess >= 0:
                delay = min(self.settings.max_delay_s,
                            self.settings.base_delay_s * 2 ** min(excess, 60))
                state.blocked_until = self.clock() + delay
            while len(self._addresses) > MAX_TRACKED_ADDRESSES:
                self._addresses.popitem(last=False)

    def waiting(self, address: str) -> bool:
        """True while `address` is backing off (its logins are refused unchecked)."""
        with self._lock:
            state = self._addresses.get(address)
            return (state is not None and state.failures >= self.settings.failures
                    and (state.blocked_until > self.clock() or state.checking))

    def failures(self, address: str) -> int:
        with self._lock:
            state = self._addresses.get(address)
            return state.failures if state else 0


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

    def __init__(self, sources: tuple[SourceConfig, ...],
                 backoff: LoginBackoff | None = None) -> None:
        self._sources = sources
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.backoff = backoff or LoginBackoff()
        self.password_checks = 0  # PBKDF2 runs (for tests and bench)

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
        wait = self.backoff.admit(client_address)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            return Identification(None, f"too many failed logins from {client_address}; "
                                        f"retry in {seconds} s", 429, claimed, seconds)
        user, password = credentials
        source = next((s for s in candidates if hmac.compare_digest(
            s.username.encode("utf-8"), user.encode("utf-8"))), None)
        ok = source is not None and self._password_ok(source, password)
        self.backoff.done(client_address, ok)
        if not ok or source is None:
            return Identification(None, "wrong credentials", 401, claimed)
        return Identification(source, claimed_source=source.name)

    def _password_ok(self, source: SourceConfig, password: str) -> bool:
        mac = hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()
        with self._lock:
            known = self._verified.get(source.name)
        if known is not None and hmac.compare_digest(known, mac):
            return True
        with self._lock:
            self.password_checks += 1
        if not password_matches(password, source.password_hash):
            return False
        with self._lock:
            self._verified[source.name] = mac
        return True
