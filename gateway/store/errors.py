"""Exception root of the gateway store."""

from __future__ import annotations


class StoreError(Exception):
    """The database could not be opened, migrated, read or written."""


class NotFoundError(StoreError):
    """The requested record does not exist."""
