"""Bearer tokens with roles, stored hashed.

A token is ``ff_`` followed by 32 random URL-safe bytes (256 bits). Only its
SHA-256 is stored: a salted slow hash protects low-entropy passwords, but a
256-bit random secret cannot be guessed, and a fast hash keeps every request
cheap. The secret is shown once, by `create`, and never logged.

Roles are ordered: viewer (read) < operator (campaign and node actions) <
admin (tokens, BMC registration, sources, clusters).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.api.errors import BadRequestError
from gateway.store import GatewayStore, NotFoundError
from gateway.store.operators import OperatorStore, TokenNameTakenError, TokenRecord

LOG = logging.getLogger(__name__)
TOKEN_PREFIX = "ff_"
_TOKEN_RE = re.compile(r"^ff_[A-Za-z0-9_-]{20,128}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class Role(StrEnum):
    """What a token may do; each role includes the ones below it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """True when a holder of this role may do what `needed` is required for."""
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class TokenError(BadRequestError):
    """A token could not be created, found or revoked (message says why; no secrets)."""

    code = "invalid_token_request"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name (used as 'who' in the audit log) and role."""

    name: str
    role: Role


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as listed (never the secret)."""

    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(token: str) -> str:
    """Hex SHA-256 of the token text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(text: str) -> bool:
    """True when `text` has the shape of a fleetflash token (checked before any lookup)."""
    return bool(_TOKEN_RE.match(text))


class TokenStore:
    """Create, list, revoke and check tokens (kept by the store). Thread-safe."""

    def __init__(self, store: OperatorStore) -> None:
        self._store = store

    @classmethod
    def for_store(cls, store: GatewayStore) -> TokenStore:
        """The tokens kept in `store`'s database."""
        return cls(OperatorStore(store.engine))

    def create(self, name: str, role: Role | str) -> tuple[TokenInfo, str]:
        """Store a new token; returns its info and the secret (shown once).

        Raises TokenError for a bad name or role, or a name already in use.
        """
        if not _NAME_RE.match(name):
            raise TokenError(f"token name {name!r} must be 1-64 letters, digits, '.', '_', "
                             "'@' or '-', starting with a letter or digit")
        try:
            role = Role(role)
        except ValueError as exc:
            raise TokenError(f"role must be one of {', '.join(Role)}") from exc
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            record = self._store.add_token(name, role.value, hash_token(secret), secret[:8])
        except TokenNameTakenError as exc:
            raise TokenError(str(exc)) from exc
        LOG.info("token %r created with role %s", name, role.value)
        return _info(record), secret

    def list(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        """All tokens, oldest first."""
        return [_info(record) for record in self._store.tokens(include_revoked=include_revoked)]

    def revoke(self, name: str) -> TokenInfo:
        """Revoke the token called `name` (idempotent). Raises TokenError if unknown."""
        try:
            record, revoked_now = self._store.revoke_token(name)
        except NotFoundError as exc:
            raise TokenError(str(exc)) from exc
        if revoked_now:
            LOG.info("token %r revoked", name)
        return _info(record)

    def authenticate(self, token: str) -> Principal | None:
        """The principal for an active token, or None (unknown, revoked or malformed)."""
        if not looks_like_token(token):
            return None
        digest = hash_token(token)
        record = self._store.token_by_hash(digest)
        # The lookup is by digest; compare again in constant time for defence in depth.
        if record is None or record.revoked_at is not None or not hmac.compare_digest(
                record.token_hash, digest):
            return None
        return Principal(record.name, Role(record.role))


def _info(record: TokenRecord) -> TokenInfo:
    return TokenInfo(record.id, record.name, Role(record.role), record.prefix,
                     record.created_at, record.revoked_at)
