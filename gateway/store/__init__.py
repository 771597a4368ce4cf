"""Persistence of the gateway (SQLAlchemy 2 + Alembic; SQLite by default, PostgreSQL by URL)."""

from gateway.store.database import statements_by_kind, statements_executed
from gateway.store.errors import DatabaseUnavailableError, NotFoundError, StoreError
from gateway.store.records import (
    ACQUIRABLE_STATES,
    AlertAdmission,
    AlertRecord,
    Decision,
    ImageRecord,
    ImageState,
    NewAlert,
)
from gateway.store.repository import GatewayStore, utcnow

__all__ = [
    "ACQUIRABLE_STATES", "AlertAdmission", "AlertRecord", "DatabaseUnavailableError",
    "Decision", "GatewayStore", "ImageRecord", "ImageState", "NewAlert", "NotFoundError",
    "StoreError", "statements_by_kind", "statements_executed", "utcnow",
]
