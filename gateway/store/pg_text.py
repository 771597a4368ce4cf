"""Text parameters on PostgreSQL (psycopg 3): NUL characters become U+FFFD.

PostgreSQL text cannot hold NUL; SQLite stores it. Alerts and refusals record
untrusted text from the wire (identifiers, descriptions, samples), so without
this a NUL byte in a hostile request turned into a database error on
PostgreSQL only. Registered per connection by gateway.store.database.
"""

from __future__ import annotations

from typing import Any

from psycopg.types.string import StrBinaryDumper, StrDumper, StrDumperUnknown

_NUL = "\x00"
_REPLACEMENT = "\ufffd"


def _clean(obj: str) -> str:
    return obj.replace(_NUL, _REPLACEMENT) if _NUL in obj else obj


class _Binary(StrBinaryDumper):
    def dump(self, obj: str) -> Any:
        return super().dump(_clean(obj))


class _Text(StrDumper):
    def dump(self, obj: str) -> Any:
        return super().dump(_clean(obj))


class _Unknown(StrDumperUnknown):
    def dump(self, obj: str) -> Any:
        return super().dump(_clean(obj))


def register_nul_safe_text(connection: Any) -> None:
    """Replace the str dumpers of one psycopg connection (the same order as psycopg's
    defaults: the last one registered per format is the default)."""
    for dumper in (_Binary, _Text, _Unknown):
        connection.adapters.register_dumper(str, dumper)
