"""How a node run's progress (gateway.domain.RunProgress) is stored: a JSON object.

Format, version 1: ``{"version": 1, <marker>: <value>, ...}`` with only the
markers that are set (a field at its default is left out); datetimes as ISO 8601
strings, tuples as arrays, enums as their values. Rows written before the
version existed (no ``"version"`` key: version 0) use the same keys and the same
encodings, so they load as they are: a gateway upgraded in the middle of a
rollout resumes its runs from them.

A key this gateway does not know is kept in ``RunProgress.unknown`` and written
back unchanged, so a gateway of an older release sharing the database with a
newer one never erases a newer gateway's marker. Adding a field to RunProgress
does not change the version (absent means the default); a change of a marker's
meaning or encoding does, with a conversion from the older version here.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from gateway.domain.run_progress import RunProgress
from gateway.store.errors import StoreError

VERSION = 1
_VERSION_KEY = "version"
_UNKNOWN = "unknown"  # the RunProgress field holding unknown keys
_DEFAULTS = RunProgress()


@cache
def _hints() -> dict[str, Any]:
    return {name: hint for name, hint in get_type_hints(RunProgress).items()
            if name != _UNKNOWN}


def progress_from_json(text: str | None) -> RunProgress:
    """The progress stored as ``text`` (empty: none set). StoreError when it is not a
    JSON object or a marker does not have its type."""
    if not text:
        return _DEFAULTS
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StoreError("a run's stored progress is not JSON") from exc
    if not isinstance(data, dict):
        raise StoreError("a run's stored progress is not a JSON object")
    return progress_from_dict(data)


def progress_from_dict(data: dict[str, Any]) -> RunProgress:
    """RunProgress from a decoded stored object of any version (see the module doc)."""
    data = dict(data)
    version = data.pop(_VERSION_KEY, 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise StoreError(f"a run's stored progress has an unreadable version {version!r}")
    hints = _hints()
    known: dict[str, Any] = {}
    for name, raw in data.items():
        if name in hints:
            try:
                known[name] = _decode(hints[name], raw)
            except (TypeError, ValueError) as exc:
                raise StoreError(f"a run's stored progress marker {name!r} is unreadable "
                                 f"({raw!r}: {exc})") from exc
    unknown = {name: raw for name, raw in data.items() if name not in hints}
    return RunProgress(**known, unknown=unknown)


def progress_to_json(progress: RunProgress) -> str:
    """The stored form of ``progress`` (current version; unknown keys kept)."""
    return json.dumps(progress_to_dict(progress), sort_keys=True)


def progress_to_dict(progress: RunProgress) -> dict[str, Any]:
    out: dict[str, Any] = dict(progress.unknown)
    out[_VERSION_KEY] = VERSION
    for spec in fields(RunProgress):
        if spec.name == _UNKNOWN:
            continue
        value = getattr(progress, spec.name)
        if value != getattr(_DEFAULTS, spec.name):
            out[spec.name] = _encode(value)
    return out


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _encode(item) for key, item in value.items()}
    return value


def _decode(hint: Any, raw: Any) -> Any:
    """``raw`` (as JSON gave it) as a value of the type ``hint``; TypeError/ValueError
    when it is not one."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        if raw is None and len(options) < len(get_args(hint)):
            return None
        (hint,) = options  # one type besides None: all RunProgress needs
        return _decode(hint, raw)
    if origin in (dict, Mapping):  # a JSON object of run fields (stage_checked)
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        return dict(raw)
    if origin is tuple:
        item = get_args(hint)[0]
        if not isinstance(raw, list):
            raise TypeError("not an array")
        return tuple(_decode(item, value) for value in raw)
    if hint is datetime:
        if not isinstance(raw, str):
            raise TypeError("not a date-time string")
        return datetime.fromisoformat(raw)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(raw)
    if hint in (int, float) and isinstance(raw, bool):
        raise TypeError(f"not a {hint.__name__}")
    if hint is float and isinstance(raw, int):
        return float(raw)
    if hint in (str, int, float, bool) and isinstance(raw, hint):
        return raw
    raise TypeError(f"not a {getattr(hint, '__name__', hint)}")
