"""Helpers every Redfish blueprint uses: the current BMC, JSON in and out, privileges.

Request bodies are checked against a small per-endpoint table of allowed
properties and types, so a wrong type or an unknown property is refused with
the Base registry message a client can act on (never a 500).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import Response, g, request

from emulator.accounts import Privilege
from emulator.bmc import Bmc, BusyError
from emulator.errors import RedfishError
from emulator.redfish.protocol import etag_of, schema_link

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

JSON_HEADERS = {"OData-Version": "4.0", "Cache-Control": "no-cache"}
JSON_HEADER_ITEMS = tuple(JSON_HEADERS.items())
SERVICE_NAME = "Fleetflash emulated BMC"


def bmc() -> Bmc:
    """The BMC that owns the port this request arrived on."""
    found: Bmc = g.bmc
    return found


def requires(privilege: Privilege) -> Callable[[F], F]:
    """Mark a view as needing ``privilege`` (checked centrally before the view runs).

    Views without the mark need Login for GET/HEAD and ConfigureManager for
    anything else, so forgetting the mark fails closed.
    """

    def mark(view: F) -> F:
        view._privilege = privilege  # type: ignore[attr-defined]
        return view

    return mark


def json_response(
    document: Mapping[str, Any] | None, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """Serialise a Redfish document (or an empty body for None) with OData headers."""
    body = b"" if document is None else json.dumps(document, separators=(",", ":")).encode()
    # Built as a list with the final Content-Type: Werkzeug then neither merges
    # a mapping nor works out a mimetype's charset (per request, this showed).
    fields = [("Content-Type", "application/json"), *JSON_HEADER_ITEMS]
    if document is not None and status == 200:
        fields.append(("ETag", etag_of(body)))
        odata_type = document.get("@odata.type")
        if isinstance(odata_type, str):
            fields.append(("Link", schema_link(odata_type)))
    if headers:
        names = {name.lower() for name in headers}
        fields = [(k, v) for k, v in fields if k.lower() not in names]
        fields.extend(headers.items())
    return Response(body, status=status, headers=fields)


@contextmanager
def conflict_when_busy() -> Iterator[None]:
    """A BMC busy with a flash, reset or media change refuses another: 409 ResourceInUse."""
    try:
        yield
    except BusyError:
        raise RedfishError(409, "ResourceInUse") from None


def read_json() -> dict[str, Any]:
    """The request body as a JSON object; MalformedJSON (400) otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise RedfishError(400, "MalformedJSON")
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RedfishError(400, "MalformedJSON") from None
    if not isinstance(document, dict):
        raise RedfishError(400, "MalformedJSON")
    return document


def read_json_optional() -> dict[str, Any]:
    """An action body that may be absent (clients often POST nothing): {} then."""
    if not request.get_data(cache=True).strip():
        return {}
    return read_json()


_JSON_TYPE_NAMES = {str: "string", bool: "boolean", int: "integer", list: "array", dict: "object"}


def _type_ok(value: Any, wanted: type | tuple[type, ...]) -> bool:
    kinds = wanted if isinstance(wanted, tuple) else (wanted,)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def check_properties(
    document: Mapping[str, Any],
    allowed: Mapping[str, type | tuple[type, ...]],
    *,
    read_only: Iterable[str] = (),
    choices: Mapping[str, Iterable[object]] | None = None,
    required: Iterable[str] = (),
) -> None:
    """Validate a PATCH/POST body: unknown, read-only, mistyped, out-of-list or missing."""
    read_only = set(read_only)
    for name, value in document.items():
        if name.startswith("@odata."):
            continue
        if name in read_only:
            raise RedfishError(400, "PropertyNotWritable", name)
        if name not in allowed:
            raise RedfishError(400, "PropertyUnknown", name)
        if not _type_ok(value, allowed[name]):
            raise RedfishError(400, "PropertyValueTypeError", _short(value), name)
        options = (choices or {}).get(name)
        if options is not None and value not in set(options):
            raise RedfishError(400, "PropertyValueNotInList", _short(value), name)
    for name in required:
        if name not in document:
            raise RedfishError(400, "PropertyMissing", name)


def check_action(
    action: str,
    document: Mapping[str, Any],
    allowed: Mapping[str, type | tuple[type, ...]],
    *,
    choices: Mapping[str, Iterable[object]] | None = None,
    required: Iterable[str] = (),
) -> None:
    """Validate an action's parameters with the ActionParameter* messages."""
    for name, value in document.items():
        if name.startswith("@"):
            if name == "@Redfish.OperationApplyTime" and "@Redfish.OperationApplyTime" in allowed:
                pass
            else:
                continue
        if name not in allowed:
            raise RedfishError(400, "ActionParameterUnknown", action, name)
        if not _type_ok(value, allowed[name]):
            raise RedfishError(400, "ActionParameterValueTypeError", _short(value), name, action)
        options = (choices or {}).get(name)
        if options is not None and value not in set(options):
            raise RedfishError(400, "ActionParameterValueNotInList", _short(value), name, action)
    for name in required:
        if name not in document:
            raise RedfishError(400, "ActionParameterMissing", action, name)


def _short(value: Any) -> str:
    """A value for an error message: JSON text, cut to 80 characters."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def not_found(kind: str, name: str) -> RedfishError:
    return RedfishError(404, "ResourceNotFound", kind, name)


def existing(found: T | None, kind: str, name: str) -> T:
    """`found` from a lookup; None raises 404 ResourceNotFound naming `kind` and `name`."""
    if found is None:
        raise not_found(kind, name)
    return found
