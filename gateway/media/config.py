"""The [media] and [usb] sections of the gateway's TOML configuration.

gateway.config_model validates their keys (MediaTable, UsbTable; documented in
docs/configuration.md); this module resolves their paths and loads the USB
trusted keys. Errors are MediaConfigError.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.config import (
    ConfigError,
    GatewayConfig,
    HostPort,
    load_config,
    load_trusted_key,
)
from gateway.media.errors import MediaConfigError


@dataclass(frozen=True)
class MediaConfig:
    """Validated [media] section; paths are absolute."""

    http: HostPort | None
    https: HostPort | None
    certfile: Path | None
    keyfile: Path | None
    base_url: str
    secret_file: Path
    previous_secret_files: tuple[Path, ...]
    nginx_root: Path | None
    withdrawn: frozenset[str]
    max_connections: int | None  # None: [front_door.media] decides
    image_dir: Path

    def load_secrets(self) -> list[bytes]:
        """Current secret first, then previous ones. Creates the current one (0600) if absent."""
        if not self.secret_file.exists():
            self.secret_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as stream:
                stream.write(secrets.token_bytes(32))
        return [_read_secret(p) for p in (self.secret_file, *self.previous_secret_files)]


@dataclass(frozen=True)
class UsbConfig:
    """Validated [usb] section."""

    source: str
    trusted_key_paths: tuple[Path, ...]
    trusted_keys: tuple[Ed25519PublicKey, ...] = field(repr=False)
    staging_dir: Path
    poll_interval_s: float


def load_gateway_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """gateway.config.load_config with its ConfigError translated to MediaConfigError."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise MediaConfigError(str(exc)) from exc


def media_config(config: GatewayConfig) -> MediaConfig:
    """The [media] section of an already loaded gateway configuration, paths resolved.
    Raises MediaConfigError when there is none (its base_url is required)."""
    table = config.file.media
    if table is None:
        raise MediaConfigError("the configuration has no [media] section; media.base_url "
                               "must be an http(s) URL like https://gw:8443")
    return MediaConfig(
        http=table.http, https=table.https,
        certfile=_opt_path(config, table.certfile), keyfile=_opt_path(config, table.keyfile),
        base_url=table.base_url,
        secret_file=_opt_path(config, table.secret_file) or config.state_dir / "media.secret",
        previous_secret_files=tuple(config.resolve(p) for p in table.previous_secret_files),
        nginx_root=_opt_path(config, table.nginx_root),
        withdrawn=frozenset(table.withdrawn), max_connections=table.max_connections,
        image_dir=config.cache_dir,
    )


def usb_config(config: GatewayConfig) -> UsbConfig:
    """The [usb] section. Raises MediaConfigError when absent or a key is unusable."""
    table = config.file.usb
    if table is None:
        raise MediaConfigError("the configuration has no [usb] section (source, trusted_keys)")
    paths = tuple(config.resolve(k) for k in table.trusted_keys)
    return UsbConfig(table.source, paths, tuple(_public_key(p) for p in paths),
                     _opt_path(config, table.staging_dir) or config.state_dir / "usb-staging",
                     table.poll_interval_s)


def _public_key(path: Path) -> Ed25519PublicKey:
    try:
        return load_trusted_key(path, "usb")
    except ConfigError as exc:
        raise MediaConfigError(str(exc)) from exc


def _read_secret(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaConfigError(f"cannot read media secret {path}: {exc.strerror}") from exc
    if len(data) < 32:
        raise MediaConfigError(f"media secret {path} must hold at least 32 bytes")
    return data


def _opt_path(config: GatewayConfig, value: str) -> Path | None:
    return config.resolve(value) if value else None
