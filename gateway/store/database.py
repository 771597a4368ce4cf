"""Engine creation and schema migration for the gateway store.

The database URL picks the backend: `sqlite:///path` (default, a file under
the gateway state directory) or `postgresql+psycopg://...` for several gateways
sharing one store (docs/database.md). Nothing in the repositories uses
backend-specific SQL, except where a module says so and keeps a portable path.
SQLite gets connection pragmas (WAL, busy timeout) so concurrent threads wait
instead of failing; PostgreSQL connections get a text dumper that replaces NUL
characters (which PostgreSQL text cannot hold and SQLite stores), because alerts
and refusals record untrusted text from the wire.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.store.errors import DatabaseUnavailableError, NotFoundError, StoreError

LOG = logging.getLogger(__name__)
RowT = TypeVar("RowT")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 48  # >= orchestrator workers + loop + background + API threads
# PostgreSQL: this many connections stay open per gateway, up to POSTGRES_MAX_CONNECTIONS
# at peaks (the rest are closed after use). The server's max_connections must allow
# POSTGRES_MAX_CONNECTIONS per gateway (docs/database.md).
POSTGRES_POOL_SIZE = 20
POSTGRES_MAX_CONNECTIONS = 48


def _alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (CLI `alerts list`) run while the gateway writes;
    # NORMAL sync is durable across process crashes, which is what restart needs.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def create_engine(url: str) -> Engine:
    """Create the engine for `url`; for SQLite the parent directory is created.

    Raises StoreError when the URL is malformed or its driver is missing.
    """
    try:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        sqlite = parsed.get_backend_name() == "sqlite"
        # A ping per connection checkout guards against servers that drop idle
        # connections; a SQLite file cannot, and the ping was measurable CPU per step.
        options: dict[str, Any] = {"pool_pre_ping": not sqlite}
        if sqlite and parsed.database not in (None, "", ":memory:"):
            # One connection per orchestrator worker thread stays open: with the default
            # pool of 5 the workers queued for connections, and every overflow
            # connection was opened (PRAGMAs included) and closed again per step.
            options |= {"pool_size": SQLITE_POOL_SIZE, "max_overflow": SQLITE_POOL_SIZE}
        elif parsed.get_backend_name() == "postgresql":
            options |= {"pool_size": POSTGRES_POOL_SIZE,
                        "max_overflow": POSTGRES_MAX_CONNECTIONS - POSTGRES_POOL_SIZE}
        engine = sa.create_engine(parsed, **options)
    except (SQLAlchemyError, ImportError, OSError) as exc:
        raise StoreError(f"cannot open database {_safe(url)}: {exc.__class__.__name__}") from exc
    _STATEMENTS[engine] = _StatementCount()
    sa.event.listen(engine, "before_cursor_execute", _STATEMENTS[engine].count)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    elif engine.dialect.driver == "psycopg":
        sa.event.listen(engine, "connect", _on_psycopg_connect)
    return engine


class _StatementCount:
    """SQL statements an engine sent (an executemany counts once: one round trip), in
    all and by kind (see statements_by_kind)."""

    def __init__(self) -> None:
        self.total = 0
        self.kinds: Counter[str] = Counter()
        self._lock = threading.Lock()  # workers, the loop and the API share an engine

    def count(self, _connection: Any, _cursor: Any, statement: str, *_event: Any,
              **_options: Any) -> None:
        kind = _kind(statement)
        with self._lock:
            self.total += 1
            self.kinds[kind] += 1


# The table of a statement follows its verb's keyword (UPDATE names it at once).
_VERB_TABLE = re.compile(r"\s*(?:(SELECT|DELETE)\b.*?\bFROM|(INSERT)\s+INTO|(UPDATE))\s+\"?(\w+)"
                         r"|\s*(\w+)", re.IGNORECASE | re.DOTALL)


def _kind(statement: str) -> str:
    """A statement's verb and table ("SELECT gateway_members", "UPDATE node_runs"): one
    kind per query shape, never its parameters."""
    found = _VERB_TABLE.match(statement)
    if found is None:
        return "other"
    verb = found.group(1) or found.group(2) or found.group(3)
    if verb is None:
        return str(found.group(5)).upper()
    return f"{verb.upper()} {found.group(4)}"


_STATEMENTS: weakref.WeakKeyDictionary[Engine, _StatementCount] = weakref.WeakKeyDictionary()


def statements_executed(engine: Engine) -> int:
    """How many SQL statements `engine` (made by create_engine) has sent so far: the
    database work per node that several gateways sharing one database cost
    (fleetflash_db_statements_total in /metrics; docs/performance.md)."""
    count = _STATEMENTS.get(engine)
    return 0 if count is None else count.total


def statements_by_kind(engine: Engine) -> Counter[str]:
    """The statements of statements_executed by verb and first table ("UPDATE
    node_runs"): where a gateway's database work goes (tests, debug logs)."""
    count = _STATEMENTS.get(engine)
    if count is None:
        return Counter()
    with count._lock:
        return Counter(count.kinds)


def _on_psycopg_connect(dbapi_connection: Any, _record: Any) -> None:
    from gateway.store.pg_text import register_nul_safe_text

    register_nul_safe_text(dbapi_connection)


def migrate(engine: Engine) -> str:
    """Upgrade the schema to head (idempotent). Returns the revision now in force.

    Raises DatabaseUnavailableError (a StoreError) when the database cannot be
    reached, StoreError when it cannot be migrated.
    """
    try:
        connection = engine.connect()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailableError(
            f"cannot reach database {_safe(str(engine.url))}: {_driver_message(exc)}") from exc
    try:
        with connection, connection.begin():
            command.upgrade(_alembic_config(connection), "head")
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate database {_safe(str(engine.url))}: "
                         f"{_driver_message(exc)}") from exc
    LOG.debug("database schema at revision %s", current)
    return current or ""


def _driver_message(exc: SQLAlchemyError) -> str:
    """The driver's own words (first line), without SQLAlchemy's statement and links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _safe(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(unparseable URL)"


@contextmanager
def core_transaction(engine: Engine) -> Iterator[sa.Connection]:
    """One connection in one transaction, committed on leaving the block: for the
    orchestrator's hottest statements, which need no ORM identity map (a Core
    statement costs about half the CPU of the same statement through a Session).
    Errors are translated as in ``transaction``."""
    try:
        with engine.begin() as connection:
            yield connection
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(_describe(exc)) from exc


def _describe(exc: SQLAlchemyError) -> str:
    """The driver's message, never the statement's parameters."""
    return (f"database error: {exc.__class__.__name__}: {exc.orig}"
            if hasattr(exc, "orig") else f"database error: {exc}")


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One session in one transaction, committed on leaving the block.

    IntegrityError passes through unchanged: callers turn a lost unique-key race
    into their own answer. Any other SQLAlchemy error becomes StoreError with the
    driver's message (never the statement's parameters).
    """
    try:
        with sessions() as session, session.begin():
            yield session
    except IntegrityError:
        raise
    except SQLAlchemyError as exc:
        raise StoreError(_describe(exc)) from exc


def existing_row(session: Session, row_type: type[RowT], key: object, missing: str) -> RowT:
    """The row of ``row_type`` with primary key ``key``; NotFoundError(``missing``) if none."""
    row = session.get(row_type, key)
    if row is None:
        raise NotFoundError(missing)
    return row
