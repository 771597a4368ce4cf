"""The building blocks of the typed configuration model (gateway.config_model).

`Table` is the base of every TOML table: unknown keys are refused with their path and
the closest known key ("did you mean ..."), values are checked strictly (a string is
no number, a number no boolean), and a validated table is frozen. `HostPort` is the
one HOST:PORT type of the gateway. `config_error` turns pydantic's report into one
line naming the key by its path, e.g. ``bmcs[2].timeout_s must be a positive number``.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Annotated, Any, ClassVar, NamedTuple, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    model_validator,
)

E = TypeVar("E", bound=Enum)
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_URL_RE = re.compile(r"^https?://[^/\s]+(/\S*)?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid (message names the key)."""


def suggestion(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest of `choices`, or '' when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Table(BaseModel):
    """A TOML table of the gateway configuration: strict, frozen, no unknown keys.

    `entry` names what a key of this table is in error messages ("key", or "step"
    for the step timeouts).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    entry: ClassVar[str] = "key"

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in set(data) - set(cls.model_fields))
            if unknown:
                key = unknown[0]
                kind = "table" if isinstance(data[key], dict | list) and cls.entry == "key" \
                    else cls.entry
                more = f" (and {', '.join(map(repr, unknown[1:]))})" if unknown[1:] else ""
                hint = suggestion(key, cls.model_fields) or \
                    f" (known: {', '.join(sorted(cls.model_fields))})"
                raise ValueError(f"unknown {kind} {key!r}{hint}{more}")
        return data


class HostPort(NamedTuple):
    """A listening address: host (no brackets; "" or "0.0.0.0" is every IPv4 address,
    "::" every IPv6 one) and port (0: pick a free one)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(value: str) -> HostPort:
    """`value` as HOST:PORT, an IPv6 host in brackets ("[::1]:8443"); ValueError naming
    what is wrong."""
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"must be HOST:PORT (got {value!r})")
    if host.startswith("["):
        host = host[1:-1] if host.endswith("]") else ""
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError("must be HOST:PORT with an IPv6 address in brackets "
                             f"(got {value!r})") from None
    elif ":" in host:
        raise ValueError(f"must be HOST:PORT with an IPv6 host in brackets, like "
                         f"[::1]:8443 (got {value!r})")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be HOST:PORT with a port in 0..65535 (got {value!r})")
    if not host or any(c.isspace() or c in "/[]" for c in host):
        raise ValueError(f"must be HOST:PORT (got {value!r})")
    return HostPort(host, int(port))


def _host_port(value: Any) -> Any:
    if isinstance(value, HostPort):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string HOST:PORT")
    return parse_host_port(value)


def _optional_host_port(value: Any) -> Any:
    return None if value == "" or value is None else _host_port(value)


# HOST:PORT, and HOST:PORT or "" (disabled) / unset.
Address = Annotated[HostPort, BeforeValidator(_host_port)]
OptionalAddress = Annotated[HostPort | None, BeforeValidator(_optional_host_port)]


def _check(test: Callable[[Any], bool], message: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not test(value):
            raise ValueError(message)
        return value
    return check


def number_in(low: float | None = None, high: float | None = None) -> BeforeValidator:
    """Checks a number (a bool is none) in low..high; without bounds a positive one."""
    message = ("must be a positive number" if low is None or high is None
               else f"must be a number in {low:g}..{high:g}")

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not (value > 0 if low is None or high is None else low <= value <= high):
            raise ValueError(message)
        return float(value)
    return BeforeValidator(check)


def integer_in(low: int = 0, high: int | None = None) -> BeforeValidator:
    """Checks an integer (a bool is none) in low..high (no upper bound: ≥ low)."""
    message = (f"must be a whole number ≥ {low}" if high is None
               else f"must be an integer in {low}..{high}")

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be an integer")
        if value < low or (high is not None and value > high):
            raise ValueError(message)
        return value
    return BeforeValidator(check)


def enum_value(kind: type[E], value: Any) -> E:
    """`value` as a member of the enum `kind`; ValueError "'x' is not one of a, b"."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise ValueError(f"{value!r} is not one of {allowed}") from None


def parse_enum(kind: type[E], value: Any, where: str) -> E:
    """`value` as a member of the enum `kind`; ConfigError naming `where` and the
    allowed values."""
    try:
        return enum_value(kind, value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def member_of(kind: type[Enum]) -> BeforeValidator:
    """Checks a value of the enum `kind` ("'x' is not one of a, b")."""
    return BeforeValidator(lambda value: enum_value(kind, value))


# A positive number of seconds (or hours); a whole number ≥ 0.
PositiveNumber = Annotated[float, number_in()]
Count = Annotated[int, integer_in()]


def refuse(message: str) -> Any:
    """Raise ValueError(message): the model's way to refuse a value inside a lambda."""
    raise ValueError(message)


def matching(pattern: re.Pattern[str], message: str) -> AfterValidator:
    """Checks a string against `pattern`; ValueError(message) when it does not match."""
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(message)
        return value
    return AfterValidator(check)


def _size(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "B").lower()]
    raise ValueError("must be a positive byte count like 1048576 or \"20GiB\"")


# A byte count: an integer or a string like "64KiB" / "20GiB".
Size = Annotated[int, BeforeValidator(_size)]
# A non-empty string.
Text = Annotated[str, AfterValidator(_check(bool, "must be a non-empty string"))]
# An http(s) URL.
Url = Annotated[str, matching(_URL_RE, "must be an http(s) URL")]
# A name of 1-64 letters, digits, '.', '_' or '-' (sources, the USB source).
Name = Annotated[str, matching(_NAME_RE, "must be 1-64 letters, digits, '.', '_' or '-'")]
# A non-empty list of strings.
Strings = Annotated[tuple[str, ...], BeforeValidator(lambda v: tuple(_check(
    lambda v: isinstance(v, list | tuple) and bool(v) and all(isinstance(s, str) for s in v),
    "must be a non-empty list of strings")(v)))]


_TYPE_WORDS = {
    "string_type": "must be a string", "bool_type": "must be true or false",
    "int_type": "must be an integer", "float_type": "must be a number",
    "list_type": "must be a list", "tuple_type": "must be a list",
    "dict_type": "must be a table", "model_type": "must be a table",
    "model_attributes_type": "must be a table", "missing": "is required",
    "too_short": "must not be empty",
}


def _item(value: Any, part: int | str) -> Any:
    if isinstance(value, dict):
        return value.get(part)
    if isinstance(value, list | tuple) and isinstance(part, int) and part < len(value):
        return value[part]
    return None


def config_error(error: ValidationError, prefix: str = "", document: Any = None
                 ) -> ConfigError:
    """One line for the first problem of `error`: the key's path, then what is wrong.
    An array entry is named by its `name` when `document` (what was validated) gives
    it one, else by its index: ``bmcs['node-003'].timeout_s``, ``clusters[0].name``.
    `prefix` names the table validated when it is not the whole file."""
    first = error.errors(include_url=False)[0]
    path = ""
    value = document
    for part in first["loc"]:
        value = _item(value, part)
        if isinstance(part, int):
            name = value.get("name") if isinstance(value, dict) else None
            path += f"[{name!r}]" if isinstance(name, str) and name else f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    if prefix:
        path = f"{prefix} {path}" if path else prefix
    if first["type"] == "value_error":
        message = str(first["ctx"]["error"])
    else:
        message = _TYPE_WORDS.get(first["type"], first["msg"])
    more = len(error.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    if not path:
        return ConfigError(f"{message}{tail}")
    joiner = " " if message.startswith(("must", "is ", "can ")) else ": "
    return ConfigError(f"{path}{joiner}{message}{tail}")
