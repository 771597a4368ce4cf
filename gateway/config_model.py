"""The typed model of gateway.toml: every table and key the gateway accepts.

`ConfigFile.model_validate(toml_document)` is the one place a configuration is checked
for shape: unknown tables and keys at any level (with a "did you mean"), types, ranges,
HOST:PORT addresses, enumerations and the rules between keys of one table. What needs
the file system, the environment or another service (trusted key files, BMC password
files, Slurm) is checked where it is used, from these typed tables: gateway.config
(sources, listener), gateway.cluster_config (clusters, BMCs), gateway.media.config.
docs/configuration.md documents exactly these keys (tests/unit/gateway/test_config_docs.py).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from gateway.cluster_managers.port import Mode, OnTimeout
from gateway.config_schema import (
    Address,
    Count,
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
    member_of,
    number_in,
)
from gateway.domain import DEFAULT_PREFERENCE, AutonomyPolicy, DeliveryMethod
from gateway.domain.activation import Activation
from gateway.intake.trust import check_prefix
from gateway.redfish.endpoint import TlsMode

HASH_RE = re.compile(r"^pbkdf2_sha256\$(\d{4,9})\$([0-9a-f]{16,128})\$([0-9a-f]{64})$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MANAGERS = ("slurm",)
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


def _matches(pattern: re.Pattern[str], message: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(message)
        return value
    return AfterValidator(check)


def _no(message: str) -> Any:
    raise ValueError(message)


Method = Annotated[DeliveryMethod, member_of(DeliveryMethod)]
# A [[bmcs]] entry's systems: only "all" (one node per system behind the root).
AllSystems = Annotated[str, AfterValidator(lambda v: v if v == "all" else _no(
    "can only be \"all\" (one node per system; use system = \"<id>\" for one)"))]


class GatewayTable(Table):
    name: str | None = None  # None: this host's name (pydantic, 3.11)
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
    password_hash: Annotated[str, _matches(
        HASH_RE, "is not a pbkdf2_sha256$... string (make one with "
                 "`fleetflash gateway hash-password`)")] = Field(repr=False)
    owning_entities: Strings
    image_uri_prefixes: Annotated[Strings, AfterValidator(_prefixes)]
    trusted_keys: Strings
    allow_downgrade: bool = False


class MediaTable(Table):
    http: OptionalAddress = HostPort("0.0.0.0", 8080)
    https: OptionalAddress = None
    certfile: str = ""
    keyfile: str = ""
    base_url: Url
    secret_file: str = ""
    previous_secret_files: list[Text] = []
    nginx_root: str = ""
    withdrawn: list[Annotated[str, _matches(
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
    format: Annotated[str, AfterValidator(lambda v: v if v in ("text", "json") else _no(
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


class StepTimeouts(Table):
    """[orchestrator.timeouts]: seconds per node step (unset: DEFAULT_TIMEOUTS)."""

    entry = "step"
    precheck: PositiveNumber | None = None
    drain: PositiveNumber | None = None
    deliver: PositiveNumber | None = None
    monitor: PositiveNumber | None = None
    reset: PositiveNumber | None = None
    wait_back: PositiveNumber | None = None
    verify: PositiveNumber | None = None
    eject: PositiveNumber | None = None
    postcheck: PositiveNumber | None = None
    undrain: PositiveNumber | None = None
    failed: PositiveNumber | None = None


class OrchestratorTable(Table):
    """Unset keys keep gateway.orchestrator.settings.OrchestratorSettings' defaults."""

    tick_s: PositiveNumber | None = None
    lease_s: PositiveNumber | None = None
    workers: Count | None = None
    poll_max_s: PositiveNumber | None = None
    good_answers: Count | None = None
    probe_interval_s: PositiveNumber | None = None
    expected_node_s: PositiveNumber | None = None
    health_interval_s: PositiveNumber | None = None
    global_max_concurrent: Count | None = None
    inventory_workers: Count | None = None
    cd_settle_s: PositiveNumber | None = None
    max_redeliveries: Count | None = None
    retry_attempts: Count = 5
    retry_base_s: PositiveNumber = 1.0
    retry_max_s: PositiveNumber = 60.0
    timeouts: StepTimeouts = StepTimeouts()
    auto_campaigns: bool = True
    events_http: Address | None = None
    events_url: Url | None = None
    event_fallback_s: PositiveNumber | None = None


class WindowTable(Table):
    days: list[Annotated[int, integer_in(0, 6)]]
    start: Annotated[str, _matches(_TIME_RE, "must be \"HH:MM\" (UTC)")]
    hours: PositiveNumber


class QosTable(Table):
    name: Text
    order: Count = 0
    windows: list[WindowTable] = []
    manual_only: bool = False


class GroupTable(Table):
    name: Text
    max_unavailable: Count | None = None
    min_available: Count | None = None


class ManagerTable(Table):
    """[clusters.cluster_manager] (gateway/cluster_managers/config.py)."""

    manager: Annotated[str, AfterValidator(lambda v: v if v in MANAGERS else _no(
        f"must be one of {', '.join(MANAGERS)} (got {v!r})"))]
    slurm_conf: Text | None = None
    mode: Annotated[Mode, member_of(Mode)] = Mode.DRAIN
    max_wait_s: PositiveNumber = 300.0
    on_timeout: Annotated[OnTimeout, member_of(OnTimeout)] = OnTimeout.SKIP
    partition: Text | None = None
    node_names: dict[str, Text] = {}

    @model_validator(mode="after")
    def _available(self) -> ManagerTable:
        if self.mode is Mode.RESERVATION:
            # The adapter books and deletes maintenance reservations, but the planner's
            # waves do not drive them yet (docs/cluster-managers.md): refused, not ignored.
            raise ValueError("mode \"reservation\" is not available yet in this version; "
                             "use mode = \"drain\"")
        return self


class ClusterTable(Table):
    name: Text
    failure_budget: Count = 0
    autonomy: Annotated[AutonomyPolicy, member_of(AutonomyPolicy)] = \
        AutonomyPolicy.REQUIRE_APPROVAL
    max_concurrent: Count | None = None
    delivery: Annotated[list[Method], Field(min_length=1)] = list(DEFAULT_PREFERENCE)
    groups: list[GroupTable] = []
    drain_command: Strings | None = None
    undrain_command: Strings | None = None
    drain_webhook: Url | None = None
    undrain_webhook: Url | None = None
    hook_timeout_s: PositiveNumber = 300.0
    cluster_manager: ManagerTable | None = None
    allow_downgrade: bool = False
    activation: Annotated[Activation, member_of(Activation)] = Activation.IMMEDIATE

    @model_validator(mode="after")
    def _hooks(self) -> ClusterTable:
        for kind in ("drain", "undrain"):
            if getattr(self, f"{kind}_command") and getattr(self, f"{kind}_webhook"):
                raise ValueError(f"set {kind}_command or {kind}_webhook, not both")
        if self.cluster_manager is not None and any(
                getattr(self, f"{kind}_{how}") for kind in ("drain", "undrain")
                for how in ("command", "webhook")):
            raise ValueError("set a cluster_manager or drain/undrain hooks, not both "
                             "(the cluster manager drains)")
        return self


class BmcTable(Table):
    """One [[bmcs]] entry; also the shape of a BMC registry entry."""

    name: Text
    cluster: Text
    group: Text
    qos: Text = "default"
    url: Text
    username: Text
    password: Text | None = Field(default=None, repr=False)
    password_env: Text | None = None
    password_file: Text | None = None
    tls: Annotated[TlsMode, member_of(TlsMode)] = TlsMode.VERIFY
    fingerprint: str | None = None
    ca_bundle: str | None = None
    timeout_s: PositiveNumber = 30.0
    system: Text | None = None
    systems: AllSystems | None = None

    @model_validator(mode="after")
    def _choices(self) -> BmcTable:
        given = [k for k in ("password", "password_env", "password_file")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of password_env, password_file, password")
        if self.system is not None and self.systems is not None:
            raise ValueError("set system or systems, not both")
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
