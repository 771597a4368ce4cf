"""The [api] and [logging] sections of the gateway's TOML configuration.

    [api]
    listen = "127.0.0.1:8000"   # HOST:PORT of the API and dashboard; port 0 picks a free one
    certfile = ""               # both set: serve HTTPS only (the session cookie is then Secure)
    keyfile = ""

    [logging]
    format = "text"             # or "json": one JSON object per line
    level = "INFO"

Validated by gateway.config_model (ApiTable, LoggingTable): unknown keys are errors.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.config_model import LOG_LEVELS, ApiTable, LoggingTable

__all__ = ["LOG_LEVELS", "ApiSettings", "LoggingSettings", "api_settings", "logging_settings"]


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

    def advertised_url(self) -> str:
        """The URL other gateways and operators reach this API at (/api/gateways): the
        listen address, this machine's host name for a wildcard one (no DNS lookup at
        start); "" while the port is only picked at start (port 0)."""
        if not self.port:
            return ""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host.replace('%', '%25')}]"  # an IPv6 zone is %25 in a URL
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"


@dataclass(frozen=True)
class LoggingSettings:
    format: str  # text | json
    level: str


def api_settings(config: GatewayConfig) -> ApiSettings:
    """The [api] section (its defaults when the file has none)."""
    table = config.file.api or ApiTable()
    return ApiSettings(host=table.listen.host, port=table.listen.port,
                       certfile=config.resolve(table.certfile) if table.certfile else None,
                       keyfile=config.resolve(table.keyfile) if table.keyfile else None)


def logging_settings(config: GatewayConfig) -> LoggingSettings:
    """The [logging] section (its defaults when the file has none)."""
    table = config.file.logging or LoggingTable()
    return LoggingSettings(table.format, table.level)
