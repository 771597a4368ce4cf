"""Alembic revision scripts (one chain; see each file's down_revision)."""
