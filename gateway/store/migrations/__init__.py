"""Alembic migrations of the gateway store (run by gateway.store.database.migrate)."""
