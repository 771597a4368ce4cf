"""The [api] and [logging] sections of the gateway's TOML configuration.

    [api]
    listen = "127.0.0.1:8000"   # HOST:PORT of the API and dashboard; port 0 picks a free one
    certfile = ""               # both set: serve HTTPS only (the session cookie is then Secure)
    keyfile = ""

    [logging]
    format = "text"             # or "json": one JSON object per line
    level = "INFO"

Unknown keys are errors: a misspelt security setting must not be ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, GatewayConfig, check_known_keys, resolve_path

_API_KEYS = {"listen", "certfile", "keyfile"}
_LOGGING_KEYS = {"format", "level"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class ApiSettings:
    """Validated [api] section. `tls` is True when certfile and keyfile are set."""

    host: str
    port: int
    certfile: Path | None
    keyfile: Path | None

    @property
    def tls(self) -> bool:
        return self.certfile is not None


@dataclass(frozen=True)
class LoggingSettings:
    format: str  # text | json
    level: str


def api_settings(config: GatewayConfig) -> ApiSettings:
    """Parse [api]. Raises ConfigError naming the bad key."""
    table = _only(config.section("api"), "api", _API_KEYS)
    listen = _text(table, "listen", "127.0.0.1:8000")
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"api.listen must be HOST:PORT (got {listen!r})")
    certfile, keyfile = _text(table, "certfile", ""), _text(table, "keyfile", "")
    if bool(certfile) != bool(keyfile):
        raise ConfigError("api.certfile and api.keyfile must be set together")
    base = config.path.parent
    return ApiSettings(host=host.strip("[]"), port=int(port),
                       certfile=resolve_path(base, certfile) if certfile else None,
                       keyfile=resolve_path(base, keyfile) if keyfile else None)


def logging_settings(config: GatewayConfig) -> LoggingSettings:
    """Parse [logging]. Raises ConfigError naming the bad key."""
    table = _only(config.section("logging"), "logging", _LOGGING_KEYS)
    fmt = _text(table, "format", "text")
    if fmt not in ("text", "json"):
        raise ConfigError("logging.format must be \"text\" or \"json\"")
    level = _text(table, "level", "INFO").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"logging.level must be one of {', '.join(LOG_LEVELS)}")
    return LoggingSettings(fmt, level)


def _only(table: Mapping[str, Any], where: str, allowed: set[str]) -> Mapping[str, Any]:
    check_known_keys(where, table, allowed)
    return table


def _text(table: Mapping[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string")
    return value

