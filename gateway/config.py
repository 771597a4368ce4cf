"""The gateway's TOML configuration.

One file configures one gateway. `load_config` reads it and validates it against the
typed model of gateway.config_model, the one place its shape is checked: an unknown
table or key at any level is a ConfigError naming it by its path (a misspelt security
setting must never be silently ignored). Packages receive typed tables from
`GatewayConfig.file` and build their settings from them.

Passwords are never stored in clear: a source's listener password is a
`pbkdf2_sha256$<iterations>$<salt-hex>$<hash-hex>` string made by
`hash_password` (CLI: `fleetflash gateway hash-password`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import ValidationError

from gateway.addresses import client_ip
from gateway.config_model import HASH_RE, ConfigFile, ListenerTable, SourceTable
from gateway.config_schema import ConfigError, HostPort, config_error, parse_enum
from gateway.domain import WithdrawalPolicy

__all__ = ["ConfigError", "GatewayConfig", "HostPort", "ListenerConfig", "SourceConfig",
           "hash_password", "load_config", "load_trusted_key", "parse_config", "parse_enum",
           "password_matches", "resolve_path"]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
PBKDF2_ITERATIONS = 120_000


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Return the storable hash of `password` (PBKDF2-SHA256 with a random 16-byte salt)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored_hash: str) -> bool:
    """True when `password` hashes to `stored_hash`; compared in constant time."""
    match = HASH_RE.match(stored_hash)
    if match is None:
        return False
    iterations, salt_hex, expected_hex = match.groups()
    digest = hashlib.pbkdf2_hmac(
        "sha256", password.encode("utf-8"), bytes.fromhex(salt_hex), int(iterations)
    )
    return hmac.compare_digest(digest.hex(), expected_hex)


@dataclass(frozen=True)
class SourceConfig:
    """One publisher the gateway is willing to believe."""

    name: str
    clients: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    username: str
    password_hash: str = field(repr=False)
    owning_entities: tuple[str, ...]
    image_uri_prefixes: tuple[str, ...]
    trusted_key_paths: tuple[Path, ...]
    trusted_keys: tuple[Ed25519PublicKey, ...] = field(repr=False, compare=False)
    # An operator may roll clusters back to an older image of this source.
    allow_downgrade: bool = False
    # What its withdrawal does to nodes already delivering its image.
    withdrawal: WithdrawalPolicy = WithdrawalPolicy.FINISH_IN_FLIGHT

    def admits_client(self, address: str) -> bool:
        """True when the client IP address falls in one of the source's ranges."""
        ip = client_ip(address)
        return ip is not None and any(
            ip.version == net.version and ip in net for net in self.clients)


@dataclass(frozen=True)
class ListenerConfig:
    """The CIM-XML indication listener. No address disables that port."""

    http: HostPort | None = HostPort("0.0.0.0", 5988)
    https: HostPort | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True)
class GatewayConfig:
    """The whole gateway configuration; see docs/configuration.md. `file` holds every
    validated table; the fields are the core settings with paths resolved."""

    path: Path
    name: str
    state_dir: Path
    database_url: str
    listener: ListenerConfig
    cache_dir: Path
    cache_max_bytes: int
    sources: tuple[SourceConfig, ...]
    file: ConfigFile = field(default_factory=ConfigFile, repr=False)

    def source(self, name: str) -> SourceConfig | None:
        """The source called `name`, or None."""
        return next((s for s in self.sources if s.name == name), None)

    def resolve(self, value: str) -> Path:
        """A path of the file: ~ expanded, relative to the file's directory."""
        return resolve_path(self.path.parent, value)


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Read and validate a gateway TOML file. Raises ConfigError naming the bad key."""
    config_path = Path(path)
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {config_path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {config_path} is not valid TOML: {exc}") from exc
    return parse_config(data, config_path)


def parse_config(data: Mapping[str, Any], path: Path) -> GatewayConfig:
    """Validate an already-parsed TOML document; relative paths resolve against `path`'s dir."""
    try:
        file = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, document=data) from None
    base = path.parent
    state_dir = resolve_path(base, file.gateway.state_dir)
    database_url = file.gateway.database_url or f"sqlite:///{state_dir / 'gateway.db'}"
    return GatewayConfig(
        path=path, name=file.gateway.name or socket.gethostname() or "gateway",
        state_dir=state_dir, database_url=database_url,
        listener=_listener(base, file.listener),
        cache_dir=resolve_path(base, file.cache.dir) if file.cache.dir
        else state_dir / "images",
        cache_max_bytes=file.cache.max_size,
        sources=tuple(_source(base, table) for table in file.sources), file=file)


def _listener(base: Path, table: ListenerTable) -> ListenerConfig:
    return ListenerConfig(
        http=table.http, https=table.https,
        certfile=resolve_path(base, table.certfile) if table.certfile else None,
        keyfile=resolve_path(base, table.keyfile) if table.keyfile else None,
        max_body_bytes=table.max_body_bytes)


def _source(base: Path, table: SourceTable) -> SourceConfig:
    where = f"source {table.name!r}"
    key_paths = tuple(resolve_path(base, p) for p in table.trusted_keys)
    return SourceConfig(
        name=table.name, clients=table.clients, username=table.username,
        password_hash=table.password_hash, owning_entities=table.owning_entities,
        image_uri_prefixes=table.image_uri_prefixes, trusted_key_paths=key_paths,
        trusted_keys=tuple(load_trusted_key(p, where) for p in key_paths),
        allow_downgrade=table.allow_downgrade, withdrawal=table.withdrawal)


def load_trusted_key(path: Path, where: str) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file `path`; ConfigError prefixed with `where` if the
    file cannot be read or holds anything else."""
    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read trusted key {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"{where}: trusted key {path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{where}: trusted key {path} is not an Ed25519 public key")
    return key


def resolve_path(base: Path, value: str) -> Path:
    """`value` with ~ expanded; a relative path is taken relative to `base` (the config
    file's directory) and made absolute."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()
