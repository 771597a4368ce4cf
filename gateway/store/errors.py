"""Exception root of the gateway store."""

from __future__ import annotations


class StoreError(Exception):
    """The database could not be opened, migrated, read or written."""


class NotFoundError(StoreError):
    """The requested record does not exist."""


class DatabaseUnavailableError(StoreError):
    """The database server could not be reached (or refused the connection) at all."""
