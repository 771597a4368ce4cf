"""The audit log of operator actions: who (token name), what, on what, when, and the result.

Every state-changing API call writes one row, whether it was carried out or
refused (409 and 400 included), and one line on the ``gateway.audit`` logger.
Details are short descriptions chosen by the caller; never secrets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from gateway.api.auth import Principal
from gateway.store import StoreError, utcnow
from gateway.store.api_tables import AuditEventRow

LOG = logging.getLogger("gateway.audit")

OUTCOME_OK = "ok"
OUTCOME_REFUSED = "refused"
OUTCOME_ERROR = "error"


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


class AuditLog:
    """Append and read audit events in the gateway database. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def record(self, who: Principal, action: str, target: str, outcome: str,
               detail: str = "") -> AuditEvent:
        """Append one event. `outcome` is ok, refused or error. Raises StoreError."""
        row = AuditEventRow(at=utcnow(), actor=who.name, role=who.role.value, action=action,
                            target=target[:256], outcome=outcome, detail=detail)
        try:
            with self._sessions() as session, session.begin():
                session.add(row)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write audit event: {exc.__class__.__name__}") from exc
        LOG.info("audit: %s (%s) %s %s -> %s %s", who.name, who.role.value, action, target,
                 outcome, detail)
        return _event(row)

    def list(self, *, limit: int, offset: int = 0) -> tuple[list[AuditEvent], int]:
        """A page of events, newest first, and the total count."""
        try:
            with self._sessions() as session:
                total = int(session.scalar(sa.select(sa.func.count(AuditEventRow.id))) or 0)
                rows = session.scalars(sa.select(AuditEventRow)
                                       .order_by(AuditEventRow.id.desc())
                                       .offset(offset).limit(limit))
                return [_event(row) for row in rows], total
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read audit log: {exc.__class__.__name__}") from exc


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(row.id, row.at, row.actor, row.role, row.action, row.target,
                      row.outcome, row.detail)
