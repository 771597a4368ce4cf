"""Helpers shared by the resource blueprints: pagination and path-parameter checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gateway.api.errors import ApiNotFoundError
from gateway.api.routing import Call

T = TypeVar("T")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def page(items: Sequence[T], call: Call, render: Callable[[T], Any]) -> dict[str, Any]:
    """One page of `items` per the call's limit/offset, with the total count."""
    limit, offset = call.query["limit"], call.query["offset"]
    return {"items": [render(item) for item in items[offset:offset + limit]],
            "total": len(items), "limit": limit, "offset": offset}


def checked_id(kind: str, value: str) -> str:
    """`value` when it can be an id; otherwise 404 (such a resource cannot exist)."""
    if not _ID_RE.match(value):
        raise ApiNotFoundError(f"no {kind} {value[:80]!r}")
    return value
