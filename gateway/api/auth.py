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

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.store import StoreError, utcnow
from gateway.store.api_tables import ApiTokenRow

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


class TokenError(Exception):
    """A token could not be created, found or revoked (message says why; no secrets)."""


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
    """Create, list, revoke and check tokens in the gateway database. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def _session(self) -> Session:
        return self._sessions()

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
        row = ApiTokenRow(name=name, role=role.value, token_hash=hash_token(secret),
                          prefix=secret[:8], created_at=utcnow(), revoked_at=None)
        try:
            with self._session() as session, session.begin():
                session.add(row)
        except IntegrityError as exc:
            raise TokenError(f"a token named {name!r} already exists") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store token: {exc.__class__.__name__}") from exc
        LOG.info("token %r created with role %s", name, role.value)
        return _info(row), secret

    def list(self, *, include_revoked: bool = True) -> list[TokenInfo]:
        """All tokens, oldest first."""
        query = sa.select(ApiTokenRow).order_by(ApiTokenRow.id)
        if not include_revoked:
            query = query.where(ApiTokenRow.revoked_at.is_(None))
        try:
            with self._session() as session:
                return [_info(row) for row in session.scalars(query)]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot list tokens: {exc.__class__.__name__}") from exc

    def revoke(self, name: str) -> TokenInfo:
        """Revoke the token called `name` (idempotent). Raises TokenError if unknown."""
        try:
            with self._session() as session, session.begin():
                row = session.scalar(sa.select(ApiTokenRow).where(ApiTokenRow.name == name))
                if row is None:
                    raise TokenError(f"no token named {name!r}")
                if row.revoked_at is None:
                    row.revoked_at = utcnow()
                    LOG.info("token %r revoked", name)
                return _info(row)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot revoke token: {exc.__class__.__name__}") from exc

    def authenticate(self, token: str) -> Principal | None:
        """The principal for an active token, or None (unknown, revoked or malformed)."""
        if not looks_like_token(token):
            return None
        digest = hash_token(token)
        try:
            with self._session() as session:
                row = session.scalar(sa.select(ApiTokenRow).where(
                    ApiTokenRow.token_hash == digest))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot check token: {exc.__class__.__name__}") from exc
        # The lookup is by digest; compare again in constant time for defence in depth.
        if row is None or row.revoked_at is not None or not hmac.compare_digest(
                row.token_hash, digest):
            return None
        return Principal(row.name, Role(row.role))


def _info(row: ApiTokenRow) -> TokenInfo:
    return TokenInfo(row.id, row.name, Role(row.role), row.prefix, row.created_at,
                     row.revoked_at)
