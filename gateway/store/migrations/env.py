"""Alembic environment: run by `gateway.store.database.migrate`, never by hand-edited ini.

The caller passes an open SQLAlchemy connection in `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

from gateway.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies tables instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
