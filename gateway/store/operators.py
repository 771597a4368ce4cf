"""Persistence of the operator interfaces: API tokens and the audit log of operator actions.

The web layer decides what a token or an audit entry means (roles, secrets,
hashing, what counts as refused); this module only stores and reads the rows
(tables in `api_tables`). Every call runs in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from gateway.store.api_tables import ApiTokenRow, AuditEventRow
from gateway.store.database import transaction
from gateway.store.errors import NotFoundError, StoreError
from gateway.store.repository import utcnow


class TokenNameTakenError(StoreError):
    """A token with this name already exists (names are unique)."""


@dataclass(frozen=True)
class TokenRecord:
    """One stored token: its SHA-256 (never the secret) and first characters."""

    id: int
    name: str
    role: str
    token_hash: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class AuditEvent:
    """One recorded operator action."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    outcome: str
    detail: str


class OperatorStore:
    """Tokens and audit events in one gateway database. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- tokens ---------------------------------------------------------------

    def add_token(self, name: str, role: str, token_hash: str, prefix: str) -> TokenRecord:
        """Store a new active token. Raises TokenNameTakenError when `name` is in use."""
        row = ApiTokenRow(name=name, role=role, token_hash=token_hash, prefix=prefix,
                          created_at=utcnow(), revoked_at=None)
        try:
            with transaction(self._sessions) as session:
                session.add(row)
        except IntegrityError as exc:
            raise TokenNameTakenError(f"a token named {name!r} already exists") from exc
        return _token(row)

    def tokens(self, *, include_revoked: bool = True) -> list[TokenRecord]:
        """All tokens, oldest first."""
        query = sa.select(ApiTokenRow).order_by(ApiTokenRow.id)
        if not include_revoked:
            query = query.where(ApiTokenRow.revoked_at.is_(None))
        with transaction(self._sessions) as session:
            return [_token(row) for row in session.scalars(query)]

    def revoke_token(self, name: str) -> tuple[TokenRecord, bool]:
        """Revoke the token called `name`; the record and whether this call revoked it
        (False: it already was). Raises NotFoundError when there is no such token."""
        with transaction(self._sessions) as session:
            row = session.scalar(sa.select(ApiTokenRow).where(ApiTokenRow.name == name))
            if row is None:
                raise NotFoundError(f"no token named {name!r}")
            revoked_now = row.revoked_at is None
            if revoked_now:
                row.revoked_at = utcnow()
            return _token(row), revoked_now

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token whose SHA-256 is `token_hash` (revoked or not), or None."""
        with transaction(self._sessions) as session:
            row = session.scalar(sa.select(ApiTokenRow).where(
                ApiTokenRow.token_hash == token_hash))
            return None if row is None else _token(row)

    # -- audit log ------------------------------------------------------------

    def append_audit(self, actor: str, role: str, action: str, target: str, outcome: str,
                     detail: str = "") -> AuditEvent:
        """Append one event (the target is cut to the column's 256 characters)."""
        row = AuditEventRow(at=utcnow(), actor=actor, role=role, action=action,
                            target=target[:256], outcome=outcome, detail=detail)
        with transaction(self._sessions) as session:
            session.add(row)
        return _event(row)

    def audit_page(self, *, limit: int, offset: int = 0) -> tuple[list[AuditEvent], int]:
        """A page of events, newest first, and the total count."""
        with transaction(self._sessions) as session:
            total = int(session.scalar(sa.select(sa.func.count(AuditEventRow.id))) or 0)
            rows = session.scalars(sa.select(AuditEventRow).order_by(AuditEventRow.id.desc())
                                   .offset(offset).limit(limit))
            return [_event(row) for row in rows], total


def _token(row: ApiTokenRow) -> TokenRecord:
    return TokenRecord(row.id, row.name, row.role, row.token_hash, row.prefix, row.created_at,
                       row.revoked_at)


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(row.id, row.at, row.actor, row.role, row.action, row.target,
                      row.outcome, row.detail)
