"""`fleetflash gateway init DIR`: a commented gateway.toml that works as written, a
state directory, TLS material and the first admin API token.

Nothing existing is overwritten: an init into a directory that already holds a
gateway.toml is refused, so re-running it cannot lock an operator out of a
running gateway by replacing its certificate or database.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from gateway.config import ConfigError, load_config
from gateway.config_schema import parse_host_port
from gateway.onboarding.certs import fingerprint_of, write_self_signed
from gateway.onboarding.errors import OnboardingError
from gateway.tls import server_tls_context

ADMIN_TOKEN_NAME = "admin"


@dataclass(frozen=True)
class InitOptions:
    """What `gateway init` writes. Addresses are HOST:PORT; `certfile`/`keyfile` are the
    operator's own PEM files (copied in), or None for a self-signed pair."""

    name: str = ""
    listener: str = "0.0.0.0:5989"
    api: str = "0.0.0.0:8443"
    media: str = "0.0.0.0:8444"
    host_names: tuple[str, ...] = ()
    certfile: Path | None = None
    keyfile: Path | None = None
    state_dir: Path | None = None  # default DIR/state; /var/lib/fleetflash under systemd


@dataclass(frozen=True)
class InitResult:
    config_path: Path
    token: str
    fingerprint: str
    self_signed: bool


TEMPLATE = """\
# fleetflash gateway configuration, written by `fleetflash gateway init`.
# Every key is documented in docs/configuration.md; unknown keys are errors, so a
# misspelt setting stops the gateway instead of being ignored.
# Start it with:  fleetflash gateway serve --config {config}
# Check it with:  fleetflash doctor --config {config}

[gateway]
name = {name}          # also this gateway's lease owner in the store: keep it stable
state_dir = {state_dir}      # database (SQLite unless database_url is set) and image cache
# database_url = "postgresql+psycopg://fleetflash@db/fleetflash"  # several gateways

[cache]
max_size = "20GiB"       # update images kept in state/images

# CIM-XML indication listener: where publishers announce new firmware.
[listener]
http = ""                # plain HTTP disabled; set e.g. "0.0.0.0:5988" to allow it
https = "{listener}"
certfile = "tls/gateway.crt"
keyfile = "tls/gateway.key"

# REST API and dashboard. Tokens: `fleetflash tokens create NAME --role ...`.
[api]
listen = "{api}"
certfile = "tls/gateway.crt"
keyfile = "tls/gateway.key"

# Where BMCs fetch images from (used once a [[clusters]] entry exists). base_url must
# be an address the BMCs can reach, which only you know: change it.
[media]
http = ""
https = "{media}"
certfile = "tls/gateway.crt"
keyfile = "tls/gateway.key"
base_url = "https://{host}:{media_port}"

# Publishers the gateway believes (see docs/intake.md). Example:
# [[sources]]
# name = "vendor"
# clients = ["10.0.0.0/8"]
# username = "vendor"
# password_hash = "..."            # fleetflash gateway hash-password
# owning_entities = ["VENDOR"]
# image_uri_prefixes = ["https://updates.vendor.example/"]
# trusted_keys = ["keys/vendor.pub"]

# Clusters and their BMCs (docs/configuration.md, "Clusters and BMCs"). BMCs can
# also be registered in the database: `fleetflash bmcs import FILE`.
# [[clusters]]
# name = "rack1"
# groups = [{{ name = "compute", max_unavailable = 1 }}]
#
# [[bmcs]]
# name = "node1"
# cluster = "rack1"
# group = "compute"
# url = "https://10.0.1.11"
# username = "admin"
# password_file = "secrets/node1.password"
"""


def init_gateway(directory: Path, options: InitOptions) -> InitResult:
    """Write DIR/gateway.toml, DIR/state, DIR/tls and the admin token. Raises
    OnboardingError (nothing written) when DIR already holds a configuration or an
    option is unusable."""
    config_path = directory / "gateway.toml"
    if config_path.exists():
        raise OnboardingError(f"{config_path} already exists; init never overwrites a "
                              "configuration (remove it or pick another directory)")
    if (options.certfile is None) != (options.keyfile is None):
        raise OnboardingError("--cert and --key must be given together")
    for value, what in ((options.listener, "--listener"), (options.api, "--api"),
                        (options.media, "--media")):
        _check_address(value, what)
    fingerprint = ""
    if options.certfile is not None and options.keyfile is not None:
        fingerprint = _check_operator_pair(options.certfile, options.keyfile)
    name = options.name or socket.gethostname() or "gateway"
    hosts = list(options.host_names) or [socket.getfqdn() or "localhost", "localhost",
                                          "127.0.0.1"]
    tls = directory / "tls"
    try:
        tls.mkdir(parents=True, exist_ok=True)
        state_dir = options.state_dir or directory / "state"
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        cert, key = tls / "gateway.crt", tls / "gateway.key"
        if cert.exists() or key.exists():
            raise OnboardingError(f"{tls} already holds gateway.crt/gateway.key; "
                                  "remove them or pass --cert/--key")
        if options.certfile is not None and options.keyfile is not None:
            _copy_operator_pair(options.certfile, options.keyfile, cert, key)
        else:
            fingerprint = write_self_signed(cert, key, hosts)
        media_port = parse_host_port(options.media).port
        config_path.write_text(TEMPLATE.format(
            config=config_path, name=json.dumps(name),
            state_dir=json.dumps(str(state_dir) if options.state_dir else "state"),
            listener=options.listener, api=options.api,
            media=options.media, host=hosts[0], media_port=media_port), encoding="utf-8")
    except OSError as exc:
        raise OnboardingError(f"cannot write into {directory}: {exc.strerror}") from exc
    token = _first_token(config_path)
    return InitResult(config_path, token, fingerprint, options.certfile is None)


def _check_operator_pair(certfile: Path, keyfile: Path) -> str:
    """The fingerprint of the operator's certificate, once it is known to load with its key."""
    try:
        fingerprint = fingerprint_of(certfile)
    except (OSError, ValueError) as exc:
        raise OnboardingError(f"--cert {certfile} is not a readable PEM certificate") from exc
    try:
        server_tls_context(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise OnboardingError(f"--key {keyfile} does not match --cert {certfile} "
                              f"or cannot be read: {exc}") from exc
    return fingerprint


def _copy_operator_pair(certfile: Path, keyfile: Path, cert: Path, key: Path) -> None:
    shutil.copyfile(certfile, cert)
    key.touch(mode=0o600)
    shutil.copyfile(keyfile, key)


def _check_address(value: str, what: str) -> None:
    try:
        parse_host_port(value)
    except ValueError as exc:
        raise OnboardingError(f"{what} {exc}") from None


def _first_token(config_path: Path) -> str:
    """Create the admin token in the new database (migrating it); the secret is
    returned once and only its hash is kept."""
    from gateway.api.auth import TokenError, TokenStore
    from gateway.store import GatewayStore, StoreError

    try:
        config = load_config(config_path)
        store = GatewayStore.open(config.database_url)
    except (ConfigError, StoreError) as exc:
        raise OnboardingError(f"the written configuration does not load: {exc}") from exc
    try:
        _info, secret = TokenStore.for_store(store).create(ADMIN_TOKEN_NAME, "admin")
    except (TokenError, StoreError) as exc:
        raise OnboardingError(f"cannot create the first admin token: {exc}") from exc
    finally:
        store.close()
    return secret
