"""The [media] and [usb] sections of the gateway's TOML configuration.

gateway.config parses the file and keeps these sections raw; this module
validates them strictly (unknown key -> MediaConfigError naming it).

    [media]
    http = "0.0.0.0:8080"          # "" disables plain HTTP
    https = ""                     # e.g. "0.0.0.0:8443"; needs certfile and keyfile
    certfile = ""
    keyfile = ""
    base_url = "http://gw.example:8080"   # prefix of the URLs handed to BMCs
    secret_file = ""               # default STATE_DIR/media.secret; >= 32 random bytes shared
                                   # by all gateways of a deployment; made 0600 if absent
    previous_secret_files = []     # still accepted (rotation)
    nginx_root = ""                # set when nginx fronts the media directory
    withdrawn = []                 # SHA-256 digests never to serve
    max_connections = 16384        # kept for older configs; see [front_door.media]

    [usb]
    source = "usb-key"             # the alert source name bundles are published under
    trusted_keys = ["keys/vendor.pub"]
    staging_dir = "usb-staging"    # where a bundle is copied off the key before verifying
    poll_interval_s = 2.0
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.config import (
    ConfigError,
    GatewayConfig,
    check_known_keys,
    load_config,
    load_trusted_key,
    resolve_path,
)
from gateway.media.errors import MediaConfigError

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_KEYS = {"http", "https", "certfile", "keyfile", "base_url", "secret_file",
               "previous_secret_files", "nginx_root", "withdrawn", "max_connections"}
_USB_KEYS = {"source", "trusted_keys", "staging_dir", "poll_interval_s"}


@dataclass(frozen=True)
class MediaConfig:
    """Validated [media] section; paths are absolute."""

    http: tuple[str, int] | None
    https: tuple[str, int] | None
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
    """Validate the [media] section of an already loaded gateway configuration."""
    table = config.section("media")
    _only(table, "media", _MEDIA_KEYS)
    base = config.path.parent
    http = _address(table.get("http", "0.0.0.0:8080"), "media.http")
    https = _address(table.get("https", ""), "media.https")
    if http is None and https is None:
        raise MediaConfigError("media: at least one of http or https must be set")
    certfile = _opt_path(base, table.get("certfile", ""), "media.certfile")
    keyfile = _opt_path(base, table.get("keyfile", ""), "media.keyfile")
    if https is not None and (certfile is None or keyfile is None):
        raise MediaConfigError("media.https needs media.certfile and media.keyfile")
    base_url = table.get("base_url", "")
    if not isinstance(base_url, str) or not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", base_url):
        raise MediaConfigError("media.base_url must be an http(s) URL like https://gw:8443")
    withdrawn = table.get("withdrawn", [])
    if not isinstance(withdrawn, list) or not all(
            isinstance(d, str) and _SHA256_RE.match(d) for d in withdrawn):
        raise MediaConfigError("media.withdrawn must be a list of lowercase SHA-256 hex digests")
    max_connections = table.get("max_connections")
    if max_connections is not None and (
            not isinstance(max_connections, int) or isinstance(max_connections, bool)
            or not 1 <= max_connections <= 1_000_000):
        raise MediaConfigError("media.max_connections must be an integer 1..1000000")
    secret = _opt_path(base, table.get("secret_file", ""), "media.secret_file")
    previous = table.get("previous_secret_files", [])
    if not isinstance(previous, list) or not all(isinstance(p, str) and p for p in previous):
        raise MediaConfigError("media.previous_secret_files must be a list of paths")
    return MediaConfig(
        http=http, https=https, certfile=certfile, keyfile=keyfile, base_url=base_url,
        secret_file=secret or config.state_dir / "media.secret",
        previous_secret_files=tuple(resolve_path(base, p) for p in previous),
        nginx_root=_opt_path(base, table.get("nginx_root", ""), "media.nginx_root"),
        withdrawn=frozenset(withdrawn), max_connections=max_connections,
        image_dir=config.cache_dir,
    )


def usb_config(config: GatewayConfig) -> UsbConfig:
    """Validate the [usb] section. Raises MediaConfigError when absent or invalid."""
    table = config.section("usb")
    if not table:
        raise MediaConfigError("the configuration has no [usb] section (source, trusted_keys)")
    _only(table, "usb", _USB_KEYS)
    source = table.get("source")
    if not isinstance(source, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", source):
        raise MediaConfigError("usb.source must be 1-64 letters, digits, '.', '_' or '-'")
    key_values = table.get("trusted_keys")
    if not isinstance(key_values, list) or not key_values or not all(
            isinstance(k, str) for k in key_values):
        raise MediaConfigError("usb.trusted_keys must be a non-empty list of PEM file paths")
    base = config.path.parent
    paths = tuple(resolve_path(base, k) for k in key_values)
    staging = _opt_path(base, table.get("staging_dir", ""), "usb.staging_dir")
    interval = table.get("poll_interval_s", 2.0)
    if not isinstance(interval, int | float) or isinstance(interval, bool) or interval <= 0:
        raise MediaConfigError("usb.poll_interval_s must be a positive number of seconds")
    return UsbConfig(source, paths, tuple(_public_key(p) for p in paths),
                     staging or config.state_dir / "usb-staging", float(interval))


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


def _only(table: Mapping[str, Any], name: str, allowed: set[str]) -> None:
    try:
        check_known_keys(name, table, allowed)
    except ConfigError as exc:
        raise MediaConfigError(str(exc)) from exc


def _address(value: Any, key: str) -> tuple[str, int] | None:
    if not isinstance(value, str):
        raise MediaConfigError(f"{key} must be a string HOST:PORT")
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise MediaConfigError(f"{key} must be HOST:PORT (got {value!r})")
    return host.strip("[]"), int(port)


def _opt_path(base: Path, value: Any, key: str) -> Path | None:
    if not isinstance(value, str):
        raise MediaConfigError(f"{key} must be a path string")
    return resolve_path(base, value) if value else None


