"""Accounts, roles and sessions of one BMC (AccountService + SessionService state).

Passwords are kept as salted SHA-256 digests: a BMC must check credentials on
every request of 1000 emulated BMCs, so a slow KDF would dominate latency;
the emulator never persists them. Session tokens are stored only as digests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

from emulator.errors import RedfishError


class Role(StrEnum):
    """The predefined Redfish roles."""

    ADMINISTRATOR = "Administrator"
    OPERATOR = "Operator"
    READONLY = "ReadOnly"


class Privilege(StrEnum):
    """Redfish assigned privileges (Privileges_v1 PrivilegeType)."""

    LOGIN = "Login"
    CONFIGURE_COMPONENTS = "ConfigureComponents"
    CONFIGURE_MANAGER = "ConfigureManager"
    CONFIGURE_USERS = "ConfigureUsers"
    CONFIGURE_SELF = "ConfigureSelf"


# As in the Redfish specification's predefined roles (DSP0266 "Roles").
ROLE_PRIVILEGES: dict[Role, frozenset[Privilege]] = {
    Role.ADMINISTRATOR: frozenset(Privilege),
    Role.OPERATOR: frozenset(
        {Privilege.LOGIN, Privilege.CONFIGURE_COMPONENTS, Privilege.CONFIGURE_SELF}
    ),
    Role.READONLY: frozenset({Privilege.LOGIN, Privilege.CONFIGURE_SELF}),
}

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 64
MAX_SESSIONS = 64


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


@dataclass
class Account:
    """One local account. ``id`` is its Redfish member id."""

    id: str
    username: str
    role: Role
    enabled: bool = True
    failed_logins: int = 0
    last_failure: float = 0.0
    locked_until: float | None = None  # monotonic; inf: until an administrator unlocks
    _salt: bytes = field(default_factory=lambda: secrets.token_bytes(16), repr=False)
    _digest: bytes = field(default=b"", repr=False)

    @staticmethod
    def check_password_policy(password: str) -> None:
        """RedfishError 400 if the password length is outside policy."""
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise RedfishError(400, "PropertyValueFormatError", "<hidden>", "Password")

    def set_password(self, password: str) -> None:
        """Raises RedfishError 400 if the password length is outside policy."""
        self.check_password_policy(password)
        self._salt = secrets.token_bytes(16)
        self._digest = _digest(self._salt, password)

    def check_password(self, password: str) -> bool:
        return self.enabled and hmac.compare_digest(self._digest, _digest(self._salt, password))

    @property
    def privileges(self) -> frozenset[Privilege]:
        return ROLE_PRIVILEGES[self.role]

    def locked(self, now: float | None = None) -> bool:
        """Locked out by too many failed logins (an expired lockout ends here)."""
        if self.locked_until is None:
            return False
        if (time.monotonic() if now is None else now) >= self.locked_until:
            self.unlock()
            return False
        return True

    def unlock(self) -> None:
        self.locked_until = None
        self.failed_logins = 0


@dataclass
class LockoutPolicy:
    """AccountService lockout settings (seconds; threshold 0 disables lockout).

    duration_s 0 keeps an account locked until an administrator unlocks it
    (PATCH Locked false), as the schema describes.
    """

    threshold: int = 5
    duration_s: int = 300
    counter_reset_s: int = 60


@dataclass
class Session:
    """A login session; the token itself is only known to the client."""

    id: str
    account: Account
    created: float
    last_used: float
    token_digest: bytes = field(repr=False, default=b"")


class AccountStore:
    """The BMC's accounts; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._next_id = 1
        self.lockout = LockoutPolicy()

    def add(self, username: str, password: str, role: Role) -> Account:
        """Create an account; 409-style RedfishError if the user name is taken."""
        if not username or len(username) > 64 or not username.isprintable():
            raise RedfishError(400, "PropertyValueFormatError", username, "UserName")
        with self._lock:
            if any(a.username == username for a in self._accounts.values()):
                raise RedfishError(
                    409, "ResourceAlreadyExists", "ManagerAccount", "UserName", username
                )
            account = Account(id=str(self._next_id), username=username, role=role)
            account.set_password(password)
            self._accounts[account.id] = account
            self._next_id += 1
            return account

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def all(self) -> list[Account]:
        with self._lock:
            return sorted(self._accounts.values(), key=lambda a: int(a.id))

    def remove(self, account_id: str) -> None:
        with self._lock:
            self._accounts.pop(account_id, None)

    def authenticate(self, username: str, password: str) -> Account | None:
        """The enabled, unlocked account with these credentials, or None.

        A wrong password counts towards the lockout threshold (the count
        restarts counter_reset_s after the last failure); a locked account
        is refused even with the right password.
        """
        for account in list(self._accounts.values()):
            if account.username == username:
                return self._check(account, password)
        # Spend the same time as a real check so user names cannot be probed.
        _digest(b"0" * 16, password)
        return None

    def _check(self, account: Account, password: str) -> Account | None:
        good = account.check_password(password)
        now = time.monotonic()
        policy = self.lockout
        with self._lock:
            if account.locked(now):
                return None
            if good:
                account.failed_logins = 0
                return account
            if now - account.last_failure > policy.counter_reset_s:
                account.failed_logins = 0
            account.failed_logins += 1
            account.last_failure = now
            if policy.threshold and account.failed_logins >= policy.threshold:
                account.locked_until = now + policy.duration_s if policy.duration_s else (
                    float("inf"))
        return None


class SessionStore:
    """Sessions with an idle timeout (SessionService.SessionTimeout, seconds)."""

    def __init__(self, timeout_s: float = 1800) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._by_digest: dict[bytes, Session] = {}
        self._by_id: dict[str, Session] = {}

    def create(self, account: Account) -> tuple[Session, str]:
        """Open a session; returns it and the X-Auth-Token to hand to the client once."""
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        session = Session(
            id=secrets.token_hex(8),
            account=account,
            created=now,
            last_used=now,
            token_digest=hashlib.sha256(token.encode()).digest(),
        )
        with self._lock:
            self._expire(now)
            if len(self._by_id) >= MAX_SESSIONS:
                raise RedfishError(503, "SessionLimitExceeded", headers={"Retry-After": "10"})
            self._by_digest[session.token_digest] = session
            self._by_id[session.id] = session
        return session, token

    def lookup(self, token: str) -> Session | None:
        """The live session for a token (refreshing its idle timer), or None."""
        digest = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        with self._lock:
            session = self._by_digest.get(digest)
            if session is None:
                return None
            if now - session.last_used > self.timeout_s or not session.account.enabled:
                self._drop(session)
                return None
            session.last_used = now
            return session

    def get(self, session_id: str) -> Session | None:
        return self._by_id.get(session_id)

    def all(self) -> list[Session]:
        with self._lock:
            self._expire(time.monotonic())
            return list(self._by_id.values())

    def delete(self, session_id: str) -> bool:
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return False
            self._drop(session)
            return True

    def end_for(self, account: Account) -> int:
        """End every session of ``account`` (deleted, password or role changed); how many."""
        with self._lock:
            doomed = [s for s in self._by_id.values() if s.account is account]
            for session in doomed:
                self._drop(session)
            return len(doomed)

    def clear(self) -> None:
        """Forget every session (a BMC restart logs everybody out)."""
        with self._lock:
            self._by_digest.clear()
            self._by_id.clear()

    def _drop(self, session: Session) -> None:
        self._by_digest.pop(session.token_digest, None)
        self._by_id.pop(session.id, None)

    def _expire(self, now: float) -> None:
        for session in [s for s in self._by_id.values() if now - s.last_used > self.timeout_s]:
            self._drop(session)
