"""The persistent BMC registry: BMCs registered through the API or CLI (imports,
discovery), kept across restarts.

Each row holds one ``[[bmcs]]``-shaped entry (docs/configuration.md) as JSON, so a
registered BMC is validated and built exactly like one from the config file
(gateway/cluster_config.py). Passwords are never stored: an entry names a
password_file or password_env. Writes are one transaction per change set, so an
import goes in whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from gateway.store.database import transaction
from gateway.store.errors import StoreError
from gateway.store.models import Base, UTCDateTime
from gateway.store.repository import utcnow


class BmcRegistrationRow(Base):
    """One registered BMC (created by migration ``onboard_0001_bmc_registry``)."""

    __tablename__ = "bmc_registrations"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    entry_json: Mapped[str] = mapped_column(Text)  # the [[bmcs]] table, name included
    origin: Mapped[str] = mapped_column(String(256))  # "import:<file>", "api", "discover"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Registration:
    """A registered BMC: its [[bmcs]] entry and where it came from."""

    name: str
    entry: Mapping[str, Any]
    origin: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RegistryChanges:
    """Entries to insert or replace (by name) and names to remove, applied together."""

    upserts: Sequence[Mapping[str, Any]] = ()
    removals: Sequence[str] = ()
    origin: str = "api"
    # Names that must not have changed since the change set was planned; see apply().
    expected: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)


class RegistryConflictError(StoreError):
    """The registry changed between planning and applying a change set (another writer)."""


class BmcRegistry:
    """The bmc_registrations table of one gateway database. Thread-safe."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def registrations(self) -> list[Registration]:
        """Every registration, by name."""
        with transaction(self._sessions) as session:
            rows = session.scalars(sa.select(BmcRegistrationRow)
                                   .order_by(BmcRegistrationRow.name)).all()
            return [_record(row) for row in rows]

    def stamp(self) -> tuple[int, datetime | None]:
        """How many registrations there are and when the newest changed: a cheap check
        of whether the registry changed since it was last read (one small query)."""
        with transaction(self._sessions) as session:
            count, newest = session.execute(sa.select(
                sa.func.count(), sa.func.max(BmcRegistrationRow.updated_at))).one()
            return int(count), newest

    def entries(self) -> list[dict[str, Any]]:
        """The [[bmcs]]-shaped entries, by name (what load_clusters takes)."""
        return [dict(r.entry) for r in self.registrations()]

    def apply(self, changes: RegistryChanges) -> None:
        """Insert/replace and remove in one transaction. When `changes.expected` is
        given, each named entry must still be as expected (None: absent), else
        RegistryConflictError and nothing changes."""
        now = utcnow()
        with transaction(self._sessions) as session:
            for name, before in changes.expected.items():
                row = session.get(BmcRegistrationRow, name)
                current = json.loads(row.entry_json) if row is not None else None
                if current != (dict(before) if before is not None else None):
                    raise RegistryConflictError(
                        f"BMC {name!r} changed in the registry meanwhile; run again")
            for entry in changes.upserts:
                name = str(entry["name"])
                text = json.dumps(dict(entry), sort_keys=True)
                row = session.get(BmcRegistrationRow, name)
                if row is None:
                    session.add(BmcRegistrationRow(name=name, entry_json=text,
                                                   origin=changes.origin, created_at=now,
                                                   updated_at=now))
                elif row.entry_json != text:
                    row.entry_json, row.origin, row.updated_at = text, changes.origin, now
            for name in changes.removals:
                row = session.get(BmcRegistrationRow, name)
                if row is not None:
                    session.delete(row)


def _record(row: BmcRegistrationRow) -> Registration:
    return Registration(row.name, json.loads(row.entry_json), row.origin, row.created_at,
                        row.updated_at)


@dataclass(frozen=True)
class DatabaseState:
    """What `fleetflash doctor` needs of a database, read without migrating it."""

    revision: str | None
    head: str
    entries: list[dict[str, Any]]


def inspect_database(url: str) -> DatabaseState:
    """The schema revision, the code's head revision and the registry's entries of the
    database at `url` (empty when the table does not exist yet). Never migrates.
    Raises StoreError naming the driver's complaint (never the password)."""
    from alembic.runtime.migration import MigrationContext

    from gateway.store.database import head_revision

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            entries: list[dict[str, Any]] = []
            if sa.inspect(connection).has_table(BmcRegistrationRow.__tablename__):
                rows = connection.execute(sa.select(BmcRegistrationRow.entry_json)).all()
                entries = [json.loads(row[0]) for row in rows]
            return DatabaseState(revision, head_revision(), entries)
    except sa.exc.SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise StoreError(f"{safe_url(url)}: {exc.__class__.__name__}: {first}") from exc
    finally:
        engine.dispose()


def safe_url(url: str) -> str:
    """`url` with any password hidden."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable database URL>"
