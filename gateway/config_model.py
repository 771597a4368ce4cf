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
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BeforeValidator, Field, create_model, model_validator

from gateway.cluster_managers.port import Mode, OnTimeout
from gateway.config_schema import (
    Address,
    HostPort,
    Name,
    OptionalAddress,
    Size,
    Strings,
    Table,
    Text,
    Url,
    choice,
    integer,
    number,
)
from gateway.domain import DEFAULT_PREFERENCE, AutonomyPolicy, DeliveryMethod
from gateway.domain.execution import DEFAULT_TIMEOUTS, Activation
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


class GatewayTable(Table):
    name: Optional[str] = None  # None: this host's name  # noqa: UP045 (pydantic, 3.11)
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
    max_connections: Optional[integer(1, 1_000_000)] = None  # noqa: UP045

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
    poll_interval_s: number() = 2.0


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


def _no(message: str) -> Any:
    raise ValueError(message)


class FrontDoorLimits(Table):
    """Unset keys keep the listener's defaults (gateway.frontdoor.policy.DEFAULTS)."""

    head_timeout_s: Optional[number()] = None  # noqa: UP045
    body_timeout_s: Optional[number()] = None  # noqa: UP045
    idle_timeout_s: Optional[number()] = None  # noqa: UP045
    max_connections_per_client: Optional[integer(1)] = None  # noqa: UP045
    max_connections: Optional[integer(1)] = None  # noqa: UP045

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_none=True).items()
                if k in FrontDoorLimits.model_fields}


class FrontDoorTable(FrontDoorLimits):
    cim: FrontDoorLimits = FrontDoorLimits()
    media: FrontDoorLimits = FrontDoorLimits()
    api: FrontDoorLimits = FrontDoorLimits()
    bmc_events: FrontDoorLimits = FrontDoorLimits()


class RefusalsTable(Table):
    bucket_s: integer(60, 86_400) = 3600
    retention_days: integer(1, 3650) = 30
    flush_interval_s: number(0.1, 60) = 2.0


class LoginBackoffTable(Table):
    failures: integer(1, 1000) = 5
    base_delay_s: number(0.001, 3600) = 1.0
    max_delay_s: number(0.001, 86_400) = 300.0

    @model_validator(mode="after")
    def _order(self) -> LoginBackoffTable:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError("max_delay_s must be at least base_delay_s")
        return self


class _StepTable(Table):
    entry = "step"


# [orchestrator.timeouts]: seconds per node step (unset: the step's default).
StepTimeouts: type[_StepTable] = create_model(  # type: ignore[call-overload]
    "StepTimeouts", __base__=_StepTable,
    **{step.value: (Optional[number()], None) for step in DEFAULT_TIMEOUTS})  # noqa: UP045


class OrchestratorTable(Table):
    """Unset keys keep gateway.orchestrator.settings.OrchestratorSettings' defaults."""

    tick_s: Optional[number()] = None  # noqa: UP045
    lease_s: Optional[number()] = None  # noqa: UP045
    workers: Optional[integer()] = None  # noqa: UP045
    poll_max_s: Optional[number()] = None  # noqa: UP045
    good_answers: Optional[integer()] = None  # noqa: UP045
    probe_interval_s: Optional[number()] = None  # noqa: UP045
    expected_node_s: Optional[number()] = None  # noqa: UP045
    health_interval_s: Optional[number()] = None  # noqa: UP045
    global_max_concurrent: Optional[integer()] = None  # noqa: UP045
    inventory_workers: Optional[integer()] = None  # noqa: UP045
    cd_settle_s: Optional[number()] = None  # noqa: UP045
    max_redeliveries: Optional[integer()] = None  # noqa: UP045
    retry_attempts: integer() = 5
    retry_base_s: number() = 1.0
    retry_max_s: number() = 60.0
    timeouts: StepTimeouts = StepTimeouts()  # type: ignore[valid-type]
    auto_campaigns: bool = True
    events_http: Optional[Address] = None  # noqa: UP045
    events_url: Optional[Url] = None  # noqa: UP045
    event_fallback_s: Optional[number()] = None  # noqa: UP045


class WindowTable(Table):
    days: list[integer(0, 6)]
    start: Annotated[str, _matches(_TIME_RE, "must be \"HH:MM\" (UTC)")]
    hours: number()


class QosTable(Table):
    name: Text
    order: integer() = 0
    windows: list[WindowTable] = []
    manual_only: bool = False


class GroupTable(Table):
    name: Text
    max_unavailable: Optional[integer()] = None  # noqa: UP045
    min_available: Optional[integer()] = None  # noqa: UP045


class ManagerTable(Table):
    """[clusters.cluster_manager] (gateway/cluster_managers/config.py)."""

    manager: Annotated[str, AfterValidator(lambda v: v if v in MANAGERS else _no(
        f"must be one of {', '.join(MANAGERS)} (got {v!r})"))]
    slurm_conf: Optional[Text] = None  # noqa: UP045
    mode: choice(Mode) = Mode.DRAIN
    max_wait_s: number() = 300.0
    on_timeout: choice(OnTimeout) = OnTimeout.SKIP
    partition: Optional[Text] = None  # noqa: UP045
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
    failure_budget: integer() = 0
    autonomy: choice(AutonomyPolicy) = AutonomyPolicy.REQUIRE_APPROVAL
    max_concurrent: Optional[integer()] = None  # noqa: UP045
    delivery: Annotated[list[choice(DeliveryMethod)], Field(min_length=1)] = list(
        DEFAULT_PREFERENCE)
    groups: list[GroupTable] = []
    drain_command: Optional[Strings] = None  # noqa: UP045
    undrain_command: Optional[Strings] = None  # noqa: UP045
    drain_webhook: Optional[Url] = None  # noqa: UP045
    undrain_webhook: Optional[Url] = None  # noqa: UP045
    hook_timeout_s: number() = 300.0
    cluster_manager: Optional[ManagerTable] = None  # noqa: UP045
    allow_downgrade: bool = False
    activation: choice(Activation) = Activation.IMMEDIATE

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
    password: Optional[Text] = Field(default=None, repr=False)  # noqa: UP045
    password_env: Optional[Text] = None  # noqa: UP045
    password_file: Optional[Text] = None  # noqa: UP045
    tls: choice(TlsMode) = TlsMode.VERIFY
    fingerprint: Optional[str] = None  # noqa: UP045
    ca_bundle: Optional[str] = None  # noqa: UP045
    timeout_s: number() = 30.0
    system: Optional[Text] = None  # noqa: UP045
    systems: Optional[Annotated[str, AfterValidator(  # noqa: UP045
        lambda v: v if v == "all" else _no(
            "can only be \"all\" (one node per system; use system = \"<id>\" for one)"))]] \
        = None

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
    media: Optional[MediaTable] = None  # noqa: UP045
    usb: Optional[UsbTable] = None  # noqa: UP045
    api: Optional[ApiTable] = None  # noqa: UP045
    logging: Optional[LoggingTable] = None  # noqa: UP045
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
