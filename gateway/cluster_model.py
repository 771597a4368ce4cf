"""The tables of gateway.toml that describe clusters and their BMCs: [orchestrator],
[[qos_classes]], [[clusters]] (groups, cluster_manager) and [[bmcs]].

Part of the one configuration model (gateway.config_model.ConfigFile holds them);
gateway.cluster_config builds the domain clusters, endpoints and executor settings
from these validated tables. A new cluster or BMC key is a field here, documented in
docs/configuration.md.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from gateway import config_schema as schema
from gateway.cluster_managers.port import Mode, OnTimeout
from gateway.config_schema import Address, Count, PositiveNumber, Strings, Table, Text, Url
from gateway.domain import DEFAULT_PREFERENCE, AutonomyPolicy, DeliveryMethod
from gateway.domain.activation import Activation
from gateway.redfish.endpoint import TlsMode

_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MANAGERS = ("slurm",)
# A delivery method of a cluster's delivery list.
Method = Annotated[DeliveryMethod, schema.member_of(DeliveryMethod)]
# A [[bmcs]] entry's systems: only "all" (one node per system behind the root).
AllSystems = Annotated[str, AfterValidator(lambda v: v if v == "all" else schema.refuse(
    "can only be \"all\" (one node per system; use system = \"<id>\" for one)"))]


class StepTimeouts(Table):
    """[orchestrator.timeouts]: seconds per node step (unset: DEFAULT_TIMEOUTS)."""

    entry = "step"
    stage: PositiveNumber | None = None
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

    # Scheduling and leases.
    tick_s: PositiveNumber | None = None
    lease_s: PositiveNumber | None = None
    workers: Count | None = None
    global_max_concurrent: Count | None = None
    leader_share: Annotated[float, schema.number_in(0.0, 1.0)] | None = None
    auto_campaigns: bool = True
    # Looking at BMCs: tasks, "back" probes, inventories.
    poll_max_s: PositiveNumber | None = None
    good_answers: Count | None = None
    probe_interval_s: PositiveNumber | None = None
    health_interval_s: PositiveNumber | None = None
    inventory_workers: Count | None = None
    # Planning and restarts.
    expected_node_s: PositiveNumber | None = None
    expected_reset_s: PositiveNumber | None = None
    cd_settle_s: PositiveNumber | None = None
    max_redeliveries: Count | None = None
    activation_settle_s: PositiveNumber | None = None
    hidden_task_grace_s: PositiveNumber | None = None
    # Transient BMC errors: tries, first delay, longest delay.
    retry_attempts: Count = 5
    retry_base_s: PositiveNumber = 1.0
    retry_max_s: PositiveNumber = 60.0
    timeouts: StepTimeouts = StepTimeouts()
    # The BMC event receiver (unset: no subscriptions, MONITOR polls).
    events_http: Address | None = None
    events_url: Url | None = None
    event_fallback_s: PositiveNumber | None = None


class WindowTable(Table):
    days: list[Annotated[int, schema.integer_in(0, 6)]]
    start: Annotated[str, schema.matching(_TIME_RE, "must be \"HH:MM\" (UTC)")]
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

    manager: Annotated[str, AfterValidator(lambda v: v if v in MANAGERS else schema.refuse(
        f"must be one of {', '.join(MANAGERS)} (got {v!r})"))]
    slurm_conf: Text | None = None
    mode: Annotated[Mode, schema.member_of(Mode)] = Mode.DRAIN
    max_wait_s: PositiveNumber = 300.0
    on_timeout: Annotated[OnTimeout, schema.member_of(OnTimeout)] = OnTimeout.SKIP
    partition: Text | None = None
    node_names: dict[str, Text] = {}


class ClusterTable(Table):
    name: Text
    failure_budget: Count = 0
    autonomy: Annotated[AutonomyPolicy, schema.member_of(AutonomyPolicy)] = \
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
    activation: Annotated[Activation, schema.member_of(Activation)] = Activation.IMMEDIATE

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
    tls: Annotated[TlsMode, schema.member_of(TlsMode)] = TlsMode.VERIFY
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
