"""The gateway's TOML configuration.

One file configures one gateway. The sections this module knows ([gateway],
[listener], [cache], [[sources]]) are parsed strictly: an unknown key is a
ConfigError, because a misspelt security setting must not be silently ignored.
Sections owned by other packages (media, api, clusters, bmcs, ...) are kept as
raw tables in `GatewayConfig.sections`; each package parses its own with
`GatewayConfig.section(name)`.

Passwords are never stored in clear: a source's listener password is a
`pbkdf2_sha256$<iterations>$<salt-hex>$<hash-hex>` string made by
`hash_password` (CLI: `fleetflash gateway hash-password`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gateway.addresses import client_ip
from gateway.intake.trust import check_prefix

E = TypeVar("E", bound=Enum)

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_CACHE_BYTES = 20 * 1024**3
PBKDF2_ITERATIONS = 120_000
_HASH_RE = re.compile(r"^pbkdf2_sha256\$(\d{4,9})\$([0-9a-f]{16,128})\$([0-9a-f]{64})$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid (message names the key)."""


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Return the storable hash of `password` (PBKDF2-SHA256 with a random 16-byte salt)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored_hash: str) -> bool:
    """True when `password` hashes to `stored_hash`; compared in constant time."""
    match = _HASH_RE.match(stored_hash)
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

    def admits_client(self, address: str) -> bool:
        """True when the client IP address falls in one of the source's ranges."""
        ip = client_ip(address)
        return ip is not None and any(
            ip.version == net.version and ip in net for net in self.clients)


@dataclass(frozen=True)
class ListenerConfig:
    """The CIM-XML indication listener. An empty address disables that port."""

    http: tuple[str, int] | None = ("0.0.0.0", 5988)
    https: tuple[str, int] | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True)
class GatewayConfig:
    """The whole gateway configuration; see docs/configuration.md."""

    path: Path
    name: str
    state_dir: Path
    database_url: str
    listener: ListenerConfig
    cache_dir: Path
    cache_max_bytes: int
    sources: tuple[SourceConfig, ...]
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Arrays of tables owned by other packages ([[clusters]], [[bmcs]], ...), raw.
    arrays: Mapping[str, list[Any]] = field(default_factory=dict)

    def source(self, name: str) -> SourceConfig | None:
        """The source called `name`, or None."""
        return next((s for s in self.sources if s.name == name), None)

    def section(self, name: str) -> Mapping[str, Any]:
        """The raw table of a section owned by another package ({} when absent)."""
        return self.sections.get(name, {})


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
    base = path.parent
    gateway = _table(data, "gateway")
    check_known_keys("gateway", gateway, {"name", "state_dir", "database_url"})
    state_dir = resolve_path(base, _str(gateway, "gateway.state_dir", "var/gateway"))
    name = _str(gateway, "gateway.name", socket.gethostname() or "gateway")
    database_url = _str(gateway, "gateway.database_url", "")
    if not database_url:
        database_url = f"sqlite:///{state_dir / 'gateway.db'}"

    cache = _table(data, "cache")
    check_known_keys("cache", cache, {"dir", "max_size"})
    cache_dir = resolve_path(base, _str(cache, "cache.dir", str(state_dir / "images")))
    cache_max = _size(cache.get("max_size", DEFAULT_CACHE_BYTES), "cache.max_size")

    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list):
        raise ConfigError("sources must be an array of tables ([[sources]])")
    sources = tuple(_source(base, raw, i) for i, raw in enumerate(raw_sources))
    names = [s.name for s in sources]
    users = [s.username for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError("sources: source names must be unique")
    if len(set(users)) != len(users):
        raise ConfigError("sources: listener usernames must be unique across sources")

    known = {"gateway", "listener", "cache", "sources"}
    sections = {k: v for k, v in data.items() if k not in known and isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if k not in known and isinstance(v, list)}
    return GatewayConfig(
        path=path, name=name, state_dir=state_dir, database_url=database_url,
        listener=_listener(base, _table(data, "listener")), cache_dir=cache_dir,
        cache_max_bytes=cache_max, sources=sources, sections=sections, arrays=arrays,
    )


def _listener(base: Path, table: Mapping[str, Any]) -> ListenerConfig:
    check_known_keys("listener", table, {"http", "https", "certfile", "keyfile", "max_body_bytes"})
    http = _address(_str(table, "listener.http", "0.0.0.0:5988"), "listener.http")
    https = _address(_str(table, "listener.https", ""), "listener.https")
    certfile = table.get("certfile")
    keyfile = table.get("keyfile")
    if https is not None and (not certfile or not keyfile):
        raise ConfigError("listener.https needs listener.certfile and listener.keyfile")
    if http is None and https is None:
        raise ConfigError("listener: at least one of http or https must be set")
    if http is not None and https is not None and http[0] != https[0]:
        raise ConfigError("listener.http and listener.https must use the same host "
                          "(pywbem binds both ports on one address)")
    max_body = _size(table.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES),
                     "listener.max_body_bytes")
    return ListenerConfig(
        http=http, https=https,
        certfile=resolve_path(base, str(certfile)) if certfile else None,
        keyfile=resolve_path(base, str(keyfile)) if keyfile else None,
        max_body_bytes=max_body,
    )


def _source(base: Path, raw: Any, index: int) -> SourceConfig:
    where = f"sources[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    check_known_keys(where, raw, {"name", "clients", "username", "password_hash",
                            "owning_entities", "image_uri_prefixes", "trusted_keys",
                            "allow_downgrade"})
    name = _str(raw, f"{where}.name", None)
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}.name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    where = f"source {name!r}"
    clients = []
    for cidr in _str_list(raw, f"{where} clients"):
        try:
            clients.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise ConfigError(f"{where}: bad client range {cidr!r}: {exc}") from exc
    password_hash = _str(raw, f"{where} password_hash", None)
    if not _HASH_RE.match(password_hash):
        raise ConfigError(f"{where}: password_hash is not a pbkdf2_sha256$... string "
                          "(make one with `fleetflash gateway hash-password`)")
    prefixes = _str_list(raw, f"{where} image_uri_prefixes")
    for prefix in prefixes:
        problem = check_prefix(prefix)
        if problem:
            raise ConfigError(f"{where}: image_uri_prefixes entry {prefix!r}: {problem}")
    key_paths = tuple(resolve_path(base, p) for p in _str_list(raw, f"{where} trusted_keys"))
    keys = tuple(load_trusted_key(p, where) for p in key_paths)
    allow_downgrade = raw.get("allow_downgrade", False)
    if not isinstance(allow_downgrade, bool):
        raise ConfigError(f"{where}: allow_downgrade must be true or false")
    return SourceConfig(
        allow_downgrade=allow_downgrade,
        name=name, clients=tuple(clients), username=_str(raw, f"{where} username", None),
        password_hash=password_hash,
        owning_entities=tuple(_str_list(raw, f"{where} owning_entities")),
        image_uri_prefixes=tuple(prefixes), trusted_key_paths=key_paths, trusted_keys=keys,
    )


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


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value


def check_known_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    """ConfigError naming the unknown keys of `table` (and the allowed ones), if any:
    a misspelt setting must never be silently ignored."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(allowed))}")


@dataclass(frozen=True)
class NumberKey:
    """A numeric setting: an integer or any number, optionally within low..high."""

    integer: bool
    low: float | None = None
    high: float | None = None


def read_numbers(where: str, table: Mapping[str, Any],
                 keys: Mapping[str, NumberKey]) -> dict[str, Any]:
    """The settings of `keys` that `table` has, each checked (a bool is no number):
    ConfigError "<where>.<key> must be an integer|a number [in low..high]"."""
    values: dict[str, Any] = {}
    for key, spec in keys.items():
        if key not in table:
            continue
        value = table[key]
        valid = not isinstance(value, bool) and isinstance(
            value, int if spec.integer else (int, float))
        if valid and spec.low is not None and spec.high is not None:
            valid = spec.low <= value <= spec.high
        if not valid:
            kind = "an integer" if spec.integer else "a number"
            bounds = "" if spec.low is None else f" in {spec.low}..{spec.high}"
            raise ConfigError(f"{where}.{key} must be {kind}{bounds}")
        values[key] = value
    return values


def parse_enum(kind: type[E], value: Any, where: str) -> E:
    """`value` as a member of the enum `kind`; ConfigError naming the allowed values."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _str(table: Mapping[str, Any], key: str, default: str | None) -> str:
    short = key.rsplit(".", 1)[-1].rsplit(" ", 1)[-1]
    value = table.get(short, default)
    if value is None:
        raise ConfigError(f"{key} is required")
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string")
    return value


def _str_list(table: Mapping[str, Any], key: str) -> list[str]:
    short = key.rsplit(" ", 1)[-1]
    value = table.get(short)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a non-empty list of strings")
    return list(value)


def resolve_path(base: Path, value: str) -> Path:
    """`value` with ~ expanded; a relative path is taken relative to `base` (the config
    file's directory) and made absolute."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _address(value: str, key: str) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key} must be HOST:PORT (got {value!r})")
    return host.strip("[]"), int(port)


def _size(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if match:
            return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "B").lower()]
    raise ConfigError(f"{key} must be a positive byte count like 1048576 or \"20GiB\"")
