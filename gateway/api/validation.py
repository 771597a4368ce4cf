"""Checking request input against the same schemas the OpenAPI document publishes.

Schemas are OpenAPI 3.0 schema objects (plain dicts) restricted to what the
API uses: object (properties, required, additionalProperties: false), string
(minLength, maxLength, pattern, enum), integer (minimum, maximum), boolean and
array (items, maxItems). Every failure is a BadRequestError naming the field,
so a client always learns which field to fix.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gateway.api.errors import BadRequestError

Schema = Mapping[str, Any]

MAX_BODY_BYTES = 64 * 1024
MAX_INTEGER_DIGITS = 30  # far beyond any field's maximum; int() of 5,000 digits is slow
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

PAGE_QUERY: dict[str, Schema] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
              "default": DEFAULT_PAGE_SIZE, "description": "Items per page."},
    "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0,
               "description": "Items to skip (newest first where lists are ordered by time)."},
}


def parse_json_body(raw: bytes, content_type: str | None, schema: Schema) -> dict[str, Any]:
    """Decode and validate a JSON request body. An empty body counts as ``{}``.

    Raises BadRequestError (field = the offending field, dotted for nested ones).
    """
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequestError(f"request body larger than {MAX_BODY_BYTES} bytes",
                              field="body", code="body_too_large")
    if raw.strip():
        if not (content_type or "").split(";")[0].strip().lower() == "application/json":
            raise BadRequestError("request body must be application/json", field="body",
                                  code="unsupported_media_type")
        value = _loads(raw)
    else:
        value = {}
    checked = check(value, schema, "")
    assert isinstance(checked, dict)
    return checked


class _NumberTooLarge(ValueError):
    pass


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NumberTooLarge(f"integer of {len(text)} digits")
    return int(text)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN/Infinity


def _loads(raw: bytes) -> Any:
    """json.loads, with every way it can fail a 400 with the stable error body: syntax,
    encoding, nesting too deep (RecursionError), numbers too large (ValueError)."""
    try:
        return json.loads(raw, parse_int=_integer, parse_constant=_constant)
    except _NumberTooLarge as exc:
        raise BadRequestError(f"request body has a number too large ({exc}; at most "
                              f"{MAX_INTEGER_DIGITS} digits)", field="body",
                              code="malformed_json") from exc
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"request body is not valid JSON at character {exc.pos}",
                              field="body", code="malformed_json") from exc
    except RecursionError as exc:  # the C scanner stops at the recursion limit, safely
        raise BadRequestError("request body is nested too deeply", field="body",
                              code="malformed_json") from exc
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequestError(f"request body is not valid JSON ({exc.__class__.__name__})",
                              field="body", code="malformed_json") from exc


def parse_query(args: Mapping[str, str], params: Mapping[str, Schema]) -> dict[str, Any]:
    """Validate query-string parameters (each given at most once); fill in defaults."""
    result: dict[str, Any] = {}
    for name in args:
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            raise BadRequestError(f"unknown query parameter {name!r} (allowed: {known})",
                                  field=name, code="unknown_field")
    for name, schema in params.items():
        if name not in args:
            if "default" in schema:
                result[name] = schema["default"]
            continue
        text = args[name]
        value: Any = text
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d{1,12}", text):
                raise BadRequestError(f"{name} must be an integer", field=name,
                                      code="invalid_field")
            value = int(text)
        elif schema.get("type") == "boolean":
            if text not in ("true", "false"):
                raise BadRequestError(f"{name} must be true or false", field=name,
                                      code="invalid_field")
            value = text == "true"
        result[name] = check(value, schema, name)
    return result


def check(value: Any, schema: Schema, path: str) -> Any:
    """Validate `value` against `schema`; returns it (objects get defaults filled in)."""
    kind = schema.get("type")
    label = path or "body"
    if value is None and schema.get("nullable"):
        return None
    if kind == "object":
        return _check_object(value, schema, path)
    if kind == "string":
        if not isinstance(value, str):
            raise _invalid(path, f"{label} must be a string")
        if len(value) < schema.get("minLength", 0):
            raise _invalid(path, f"{label} must not be shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise _invalid(path, f"{label} must not be longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise _invalid(path, f"{label} has the wrong format "
                           f"(expected pattern {schema['pattern']})")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(path, f"{label} must be an integer")
        if "minimum" in schema and value < schema["minimum"]:
            raise _invalid(path, f"{label} must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _invalid(path, f"{label} must be at most {schema['maximum']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _invalid(path, f"{label} must be true or false")
    elif kind == "array":
        if not isinstance(value, list):
            raise _invalid(path, f"{label} must be an array")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise _invalid(path, f"{label} must have at most {schema['maxItems']} items")
        return [check(item, schema["items"], f"{path}[{i}]") for i, item in enumerate(value)]
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(v) for v in schema["enum"])
        raise _invalid(path, f"{label} must be one of: {allowed}")
    return value


def _check_object(value: Any, schema: Schema, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(path, f"{path or 'request body'} must be a JSON object")
    properties: Mapping[str, Schema] = schema.get("properties", {})
    for key in value:
        if key not in properties:
            known = ", ".join(sorted(properties)) or "none"
            raise BadRequestError(f"unknown field {_join(path, key)!r} (allowed: {known})",
                                  field=_join(path, key), code="unknown_field")
    for key in schema.get("required", ()):
        if key not in value:
            raise BadRequestError(f"field {_join(path, key)!r} is required",
                                  field=_join(path, key), code="missing_field")
    result: dict[str, Any] = {}
    for key, sub in properties.items():
        if key in value:
            result[key] = check(value[key], sub, _join(path, key))
        elif "default" in sub:
            result[key] = sub["default"]
    return result


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _invalid(path: str, message: str) -> BadRequestError:
    return BadRequestError(message, field=path or None, code="invalid_field")
