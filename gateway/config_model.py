"""The typed model of gateway.toml: every table and key the gateway accepts.

`ConfigFile.model_validate(toml_document)` is the one place a configuration is checked
for shape: unknown tables and keys at any level (with a "did you mean"), types, ranges,
HOST:PORT addresses, enumerations and the rules between keys of one table. What needs
the file system, the environment or another service (trusted key files, BMC password
files, Slurm) is checked where it is used, from these typed tables: gateway.config
(sources, listener), gateway.cluster_config (clusters, BMCs), gateway.media.config.
The tables of clusters and BMCs are in gateway.cluster_model. docs/configuration.md
documents exactly these keys (tests/unit/gateway/test_config_docs.py).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from gateway.cluster_model import BmcTable, ClusterTable, OrchestratorTable, QosTable
from gateway.config_schema import (
    Address,
    HostPort,
    Name,
    OptionalAddress,
    PositiveNumber,
    Size,
    Strings,
    Table,
    Text,
    Url,
    integer_in,
    matching,
    member_of,
    number_in,
    refuse,
)
from gateway.domain import WithdrawalPolicy
from gateway.intake.trust import check_prefix

HASH_RE = re.compile(r"^pbkdf2_sha256\$(\d{4,9})\$([0-9a-f]{16,128})\$([0-9a-f]{64})$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(value: Any) -> Any:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a non-empty list of address ranges (CIDR)")
    networks = []
    for cidr in value:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise ValueError(f"bad client range {cidr!r}: {exc}") from None
    return tuple(networks)


def _prefixes(value: tuple[str, ...]) -> tuple[str, ...]:
    for prefix in value:
        problem = check_prefix(prefix)
        if problem:
            raise ValueError(f"entry {prefix!r}: {problem}")
    return value



class GatewayTable(Table):
    name: str | None = None  # None: this host's name
    state_dir: str = "var/gateway"
    database_url: str = ""


class ListenerTable(Table):
    http: OptionalAddress = HostPort("0.0.0.0", 5988)
    https: OptionalAddress = None
    certfile: str = ""
    keyfile: str = ""
    max_body_bytes: Size = 64 * 1024

    @model_validator(mode="after")
    def _ports(self) -> ListenerTable:
        if self.https is not None and (not self.certfile or not self.keyfile):
            raise ValueError("https needs listener.certfile and listener.keyfile")
        if self.http is None and self.https is None:
            raise ValueError("at least one of http or https must be set")
        if self.http is not None and self.https is not None and \
                self.http.host != self.https.host:
            raise ValueError("http and https must use the same host "
                             "(pywbem binds both ports on one address)")
        return self


class CacheTable(Table):
    dir: str = ""  # "": <state_dir>/images
    max_size: Size = 20 * 1024**3


class SourceTable(Table):
    name: Name
    clients: Annotated[tuple[Network, ...], BeforeValidator(_networks)]
    username: Text
    password_hash: Annotated[str, matching(
        HASH_RE, "is not a pbkdf2_sha256$... string (make one with "
                 "`fleetflash gateway hash-password`)")] = Field(repr=False)
    owning_entities: Strings
    image_uri_prefixes: Annotated[Strings, AfterValidator(_prefixes)]
    trusted_keys: Strings
    allow_downgrade: bool = False
    withdrawal: Annotated[WithdrawalPolicy, member_of(WithdrawalPolicy)] = \
        WithdrawalPolicy.FINISH_IN_FLIGHT


class MediaTable(Table):
    http: OptionalAddress = HostPort("0.0.0.0", 8080)
    https: OptionalAddress = None
    certfile: str = ""
    keyfile: str = ""
    base_url: Url
    secret_file: str = ""
    previous_secret_files: list[Text] = []
    nginx_root: str = ""
    withdrawn: list[Annotated[str, matching(
        _SHA256_RE, "must be a lowercase SHA-256 hex digest")]] = []
    max_connections: Annotated[int, integer_in(1, 1_000_000)] | None = None

    @model_validator(mode="after")
    def _ports(self) -> MediaTable:
        if self.http is None and self.https is None:
            raise ValueError("at least one of http or https must be set")
        if self.https is not None and (not self.certfile or not self.keyfile):
            raise ValueError("https needs media.certfile and media.keyfile")
        return self


class UsbTable(Table):
    source: Name
    trusted_keys: Strings
    staging_dir: str = ""  # "": <state_dir>/usb-staging
    poll_interval_s: PositiveNumber = 2.0


class ApiTable(Table):
    listen: Address = HostPort("127.0.0.1", 8000)
    certfile: str = ""
    keyfile: str = ""

    @model_validator(mode="after")
    def _pair(self) -> ApiTable:
        if bool(self.certfile) != bool(self.keyfile):
            raise ValueError("certfile and keyfile must be set together")
        return self


def _level(value: Any) -> Any:
    if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value.upper()


class LoggingTable(Table):
    format: Annotated[str, AfterValidator(lambda v: v if v in ("text", "json") else refuse(
        "must be \"text\" or \"json\""))] = "text"
    level: Annotated[str, BeforeValidator(_level)] = "INFO"


class FrontDoorLimits(Table):
    """Unset keys keep the listener's defaults (gateway.frontdoor.policy.DEFAULTS)."""

    head_timeout_s: PositiveNumber | None = None
    body_timeout_s: PositiveNumber | None = None
    idle_timeout_s: PositiveNumber | None = None
    max_connections_per_client: Annotated[int, integer_in(1)] | None = None
    max_connections: Annotated[int, integer_in(1)] | None = None

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_none=True).items()
                if k in FrontDoorLimits.model_fields}


class FrontDoorTable(FrontDoorLimits):
    cim: FrontDoorLimits = FrontDoorLimits()
    media: FrontDoorLimits = FrontDoorLimits()
    api: FrontDoorLimits = FrontDoorLimits()
    bmc_events: FrontDoorLimits = FrontDoorLimits()


class RefusalsTable(Table):
    bucket_s: Annotated[int, integer_in(60, 86_400)] = 3600
    retention_days: Annotated[int, integer_in(1, 3650)] = 30
    flush_interval_s: Annotated[float, number_in(0.1, 60)] = 2.0


class LoginBackoffTable(Table):
    failures: Annotated[int, integer_in(1, 1000)] = 5
    base_delay_s: Annotated[float, number_in(0.001, 3600)] = 1.0
    max_delay_s: Annotated[float, number_in(0.001, 86_400)] = 300.0

    @model_validator(mode="after")
    def _order(self) -> LoginBackoffTable:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be at least base_delay_s")
        return self


class ConfigFile(Table):
    """The whole gateway.toml; see docs/configuration.md."""

    gateway: GatewayTable = GatewayTable()
    listener: ListenerTable = ListenerTable()
    cache: CacheTable = CacheTable()
    sources: list[SourceTable] = []
    media: MediaTable | None = None
    usb: UsbTable | None = None
    api: ApiTable | None = None
    logging: LoggingTable | None = None
    front_door: FrontDoorTable = FrontDoorTable()
    refusals: RefusalsTable = RefusalsTable()
    login_backoff: LoginBackoffTable = LoginBackoffTable()
    orchestrator: OrchestratorTable = OrchestratorTable()
    qos_classes: list[QosTable] = []
    clusters: list[ClusterTable] = []
    bmcs: list[BmcTable] = []

    @model_validator(mode="after")
    def _unique(self) -> ConfigFile:
        for what, kind, names in (("sources", "name", [s.name for s in self.sources]),
                                  ("sources", "username", [s.username for s in self.sources]),
                                  ("clusters", "name", [c.name for c in self.clusters]),
                                  ("bmcs", "name", [b.name for b in self.bmcs])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what}: {kind} {twice[0]!r} is used twice; "
                                 f"each {kind} must be unique")
        return self
