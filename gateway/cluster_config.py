"""The [orchestrator], [[qos_classes]], [[clusters]] and [[bmcs]] parts of the gateway config.

gateway.config keeps these raw; this module validates them strictly (an unknown
key is a ConfigError naming it) and builds the domain clusters, BMC endpoints
and executor settings. See docs/configuration.md ("Clusters and BMCs").
BMC passwords come from ``password_env`` or ``password_file`` (or, for labs,
``password``); they never appear in an error message.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from gateway.cluster_managers.config import check_node_names, parse_manager
from gateway.config import ConfigError, GatewayConfig, check_known_keys, parse_enum
from gateway.domain import (
    AutonomyPolicy,
    Cluster,
    DeliveryMethod,
    DomainError,
    MaintenanceWindow,
    NodeSpec,
    NodeStep,
    QosClass,
    RedundancyGroup,
    RetryPolicy,
)
from gateway.orchestrator.settings import (
    DEFAULT_TIMEOUTS,
    Activation,
    ClusterSettings,
    Hook,
    OrchestratorSettings,
)
from gateway.redfish import BmcEndpoint, RedfishError, TlsMode
from gateway.redfish.endpoint import ALL_SYSTEMS, system_key

LOG = logging.getLogger(__name__)

_CLUSTER_KEYS = {"name", "failure_budget", "autonomy", "max_concurrent", "delivery", "groups",
                 "drain_command", "undrain_command", "drain_webhook", "undrain_webhook",
                 "hook_timeout_s", "cluster_manager", "allow_downgrade",
                 "activation"}
_GROUP_KEYS = {"name", "max_unavailable", "min_available"}
_BMC_KEYS = {"name", "cluster", "group", "qos", "url", "username", "password", "password_env",
             "password_file", "tls", "fingerprint", "ca_bundle", "timeout_s", "system",
             "systems"}
_QOS_KEYS = {"name", "order", "manual_only", "windows"}
_WINDOW_KEYS = {"days", "start", "hours"}
_ORCH_KEYS = {"tick_s", "lease_s", "workers", "poll_max_s", "good_answers", "probe_interval_s",
              "expected_node_s", "expected_reset_s", "health_interval_s", "global_max_concurrent",
              "inventory_workers", "retry_attempts", "retry_base_s", "retry_max_s",
              "timeouts", "auto_campaigns", "cd_settle_s", "max_redeliveries",
              "events_http", "events_url", "event_fallback_s"}
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def load_clusters(config: GatewayConfig, registered: Sequence[Mapping[str, Any]] = ()
                  ) -> tuple[ClusterSettings, ...]:
    """Every declared cluster with its BMCs: the config file's [[bmcs]] and the
    `registered` entries of the BMC registry (same shape; gateway/store/bmc_registry.py).
    Raises ConfigError naming the bad entry, also for a name in both sources."""
    qos = _qos_classes(config.arrays.get("qos_classes", []))
    raw_clusters = _array(config.arrays.get("clusters", []), "clusters")
    raw_bmcs = _array(config.arrays.get("bmcs", []), "bmcs")
    in_file = {raw.get("name") for raw in raw_bmcs if isinstance(raw, dict)}
    for entry in registered:
        if entry.get("name") in in_file:
            raise ConfigError(f"BMC {entry.get('name')!r} is both in the config file "
                              "[[bmcs]] and in the BMC registry; remove one "
                              "(fleetflash bmcs remove NAME, or delete the [[bmcs]] table)")
    base = config.path.parent
    endpoints: dict[str, dict[str, BmcEndpoint]] = {}
    specs: dict[str, list[NodeSpec]] = {}
    seen: set[str] = set()
    services: dict[tuple[str, str], str] = {}  # (url, system) -> the entry registering it
    sources = [(f"bmcs[{i}]", raw) for i, raw in enumerate(raw_bmcs)]
    sources += [(f"registry entry {e.get('name')!r}", e) for e in registered]
    for label, raw in sources:
        name = _unique_name(raw, label, _BMC_KEYS, seen, "BMC")
        where = f"BMC {name!r}"
        cluster = _text(raw, "cluster", where)
        endpoint = _endpoint(raw, name, where, base)
        _refuse_duplicate(endpoint, services, where)
        endpoints.setdefault(cluster, {})[name] = endpoint
        specs.setdefault(cluster, []).append(NodeSpec(
            name, _text(raw, "group", where), str(raw.get("qos", "default"))))
    result = []
    names: set[str] = set()
    for index, raw in enumerate(raw_clusters):
        name = _unique_name(raw, f"clusters[{index}]", _CLUSTER_KEYS, names, "cluster")
        result.append(_cluster(raw, name, qos, specs.pop(name, []), endpoints.get(name, {}),
                               base))
    if specs:
        raise ConfigError(f"bmcs name unknown cluster(s): {', '.join(sorted(specs))}")
    return tuple(result)


def _refuse_duplicate(endpoint: BmcEndpoint, services: dict[tuple[str, str], str],
                      where: str) -> None:
    """Two entries for the same BMC and system would update one host twice at once.
    An entry expanding every system (systems = "all") claims the whole BMC."""
    url, system = endpoint.service
    for (other_url, other_system), other in services.items():
        if other_url == url and (other_system == system or ALL_SYSTEMS in (system,
                                                                           other_system)):
            what = (f"system {system!r} of {endpoint.url}" if system not in ("", ALL_SYSTEMS)
                    else endpoint.url)
            raise ConfigError(f"{where}: {what} is already registered by BMC {other!r}")
    services[(url, system)] = endpoint.name


def expand_systems(clusters: tuple[ClusterSettings, ...],
                   list_systems: Callable[[BmcEndpoint], list[str]]
                   ) -> tuple[ClusterSettings, ...]:
    """Replace each ``systems = "all"`` entry by one node per system its BMC serves
    (``list_systems``: the Systems member paths, raising RedfishError), named
    ``<name>-<system id>``, in the entry's group and QoS class. An entry whose BMC
    cannot be listed stays one node whose inventory says why (see systems.choose_system).
    Raises ConfigError when an expanded id collides with another node."""
    result = []
    for settings in clusters:
        endpoints = dict(settings.endpoints)
        nodes = list(settings.cluster.nodes)
        for name, endpoint in settings.endpoints.items():
            if endpoint.system != ALL_SYSTEMS:
                continue
            try:
                members = list_systems(endpoint)
            except RedfishError as exc:
                LOG.warning("BMC %s: systems = \"all\" not expanded: %s", name, exc)
                continue
            spec = settings.cluster.node(name)
            del endpoints[name]
            nodes.remove(spec)
            for member in members:
                node_id = f"{name}-{_id_part(system_key(member))}"
                if node_id in endpoints:
                    raise ConfigError(f"BMC {name!r}: system {member} would be node "
                                      f"{node_id!r}, which already exists")
                endpoints[node_id] = replace(endpoint, name=node_id, system=member)
                nodes.append(NodeSpec(node_id, spec.group, spec.qos))
        if endpoints != settings.endpoints:
            try:
                cluster = replace(settings.cluster, nodes=tuple(nodes))
            except DomainError as exc:
                raise ConfigError(str(exc)) from exc
            settings = replace(settings, cluster=cluster, endpoints=endpoints)
        result.append(settings)
    return tuple(result)


def _id_part(system_id: str) -> str:
    """A system id as part of a node id (letters, digits, '.', '_', '-' kept)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", system_id)


def load_orchestrator_settings(config: GatewayConfig) -> OrchestratorSettings:
    """The [orchestrator] section (every key optional). Raises ConfigError."""
    table = config.section("orchestrator")
    check_known_keys("orchestrator", table, _ORCH_KEYS)
    numbers: dict[str, Any] = {key: _number(table, key, "orchestrator") for key in
               ("tick_s", "lease_s", "poll_max_s", "probe_interval_s", "expected_node_s",
                "expected_reset_s", "health_interval_s", "cd_settle_s", "event_fallback_s")
               if key in table}
    integers: dict[str, Any] = {key: _integer(table, key, "orchestrator") for key in
                ("workers", "good_answers", "global_max_concurrent", "inventory_workers",
                 "max_redeliveries")
                if key in table}
    timeouts = dict(DEFAULT_TIMEOUTS)
    raw_timeouts = table.get("timeouts", {})
    if not isinstance(raw_timeouts, dict):
        raise ConfigError("orchestrator.timeouts must be a table of step = seconds")
    for step_name in raw_timeouts:
        try:
            step = NodeStep(step_name)
        except ValueError:
            allowed = ", ".join(s.value for s in DEFAULT_TIMEOUTS)
            raise ConfigError(f"orchestrator.timeouts: unknown step {step_name!r} "
                              f"(steps: {allowed})") from None
        timeouts[step] = _number(raw_timeouts, step_name, "orchestrator.timeouts")
    retry = RetryPolicy(
        attempts=_integer(table, "retry_attempts", "orchestrator", 5),
        base=_number(table, "retry_base_s", "orchestrator", 1.0),
        max_delay=_number(table, "retry_max_s", "orchestrator", 60.0))
    auto = table.get("auto_campaigns", True)
    if not isinstance(auto, bool):
        raise ConfigError("orchestrator.auto_campaigns must be true or false")
    events: dict[str, Any] = {}
    if "events_http" in table:
        listen = _text(table, "events_http", "orchestrator")
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"orchestrator.events_http must be HOST:PORT (got {listen!r})")
        events["events_http"] = listen
    if "events_url" in table:
        url = _text(table, "events_url", "orchestrator")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"orchestrator.events_url must be an http(s) URL (got {url!r})")
        events["events_url"] = url
    return OrchestratorSettings(**numbers, **integers, **events, retry=retry,
                                timeouts=timeouts, auto_campaigns=auto)


def _cluster(raw: Mapping[str, Any], name: str, qos: tuple[QosClass, ...],
             nodes: list[NodeSpec], endpoints: dict[str, BmcEndpoint],
             base: Path) -> ClusterSettings:
    where = f"cluster {name!r}"
    groups = []
    for index, group in enumerate(_array(raw.get("groups", []), f"{where} groups")):
        check_known_keys(f"{where} groups[{index}]", group, _GROUP_KEYS)
        groups.append((group, f"{where} groups[{index}]"))
    try:
        cluster = Cluster(
            name=name,
            groups=tuple(RedundancyGroup(_text(g, "name", w),
                                         _opt_int(g, "max_unavailable", w),
                                         _opt_int(g, "min_available", w)) for g, w in groups),
            nodes=tuple(nodes), qos_classes=qos,
            failure_budget=_integer(raw, "failure_budget", where, 0),
            autonomy=parse_enum(AutonomyPolicy, raw.get("autonomy", "require_approval"),
                           f"{where} autonomy"),
            max_concurrent=_opt_int(raw, "max_concurrent", where),
        )
    except DomainError as exc:
        raise ConfigError(str(exc)) from exc
    delivery = raw.get("delivery", [m.value for m in DeliveryMethod])
    if not isinstance(delivery, list) or not delivery:
        raise ConfigError(f"{where}: delivery must be a non-empty list of methods")
    methods = tuple(parse_enum(DeliveryMethod, m, f"{where} delivery") for m in delivery)
    timeout = _number(raw, "hook_timeout_s", where, 300.0)
    manager = None
    if "cluster_manager" in raw:
        if any(f"{kind}_{how}" in raw for kind in ("drain", "undrain")
               for how in ("command", "webhook")):
            raise ConfigError(f"{where}: set a cluster_manager or drain/undrain hooks, "
                              "not both (the cluster manager drains)")
        manager = parse_manager(raw["cluster_manager"], where, base)
        check_node_names(manager, cluster.node_ids(), where)
    allow_downgrade = raw.get("allow_downgrade", False)
    if not isinstance(allow_downgrade, bool):
        raise ConfigError(f"{where}: allow_downgrade must be true or false")
    activation = parse_enum(Activation, raw.get("activation", "immediate"),
                            f"{where} activation")
    settings = ClusterSettings(
        cluster=cluster, endpoints=endpoints, delivery=methods,
        allow_downgrade=allow_downgrade, activation=activation,
        drain=_hook(raw, "drain", where, timeout), undrain=_hook(raw, "undrain", where, timeout),
        manager=manager)
    if activation is Activation.STAGED and settings.windowless_nodes():
        refusal = settings.staged_refusal()
        raise ConfigError(str(refusal))
    return settings


def _hook(raw: Mapping[str, Any], kind: str, where: str, timeout: float) -> Hook | None:
    command = raw.get(f"{kind}_command")
    webhook = raw.get(f"{kind}_webhook")
    if command is not None and webhook is not None:
        raise ConfigError(f"{where}: set {kind}_command or {kind}_webhook, not both")
    if command is not None:
        if not isinstance(command, list) or not command or not all(
                isinstance(part, str) for part in command):
            raise ConfigError(f"{where}: {kind}_command must be a non-empty list of strings "
                              "(argv; {node} and {cluster} are substituted)")
        return Hook(command=tuple(command), timeout_s=timeout)
    if webhook is not None:
        if not isinstance(webhook, str) or not re.match(r"^https?://\S+$", webhook):
            raise ConfigError(f"{where}: {kind}_webhook must be an http(s) URL")
        return Hook(webhook=webhook, timeout_s=timeout)
    return None


def _endpoint(raw: Mapping[str, Any], name: str, where: str, base: Path) -> BmcEndpoint:
    sources = [k for k in ("password", "password_env", "password_file") if k in raw]
    if len(sources) != 1:
        raise ConfigError(f"{where}: set exactly one of password_env, password_file, password")
    if sources[0] == "password_env":
        variable = _text(raw, "password_env", where)
        password = os.environ.get(variable)
        if password is None:
            raise ConfigError(f"{where}: environment variable {variable} is not set")
    elif sources[0] == "password_file":
        path = Path(_text(raw, "password_file", where)).expanduser()
        path = path if path.is_absolute() else base / path
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read password_file {path}: "
                              f"{exc.strerror}") from exc
    else:
        password = _text(raw, "password", where)
    system = _text(raw, "system", where) if "system" in raw else None
    if "systems" in raw:
        if raw["systems"] != "all":
            raise ConfigError(f"{where}: systems can only be \"all\" (one node per system; "
                              "use system = \"<id>\" for one)")
        if system is not None:
            raise ConfigError(f"{where}: set system or systems, not both")
        system = ALL_SYSTEMS
    try:
        return BmcEndpoint(
            name=name, url=_text(raw, "url", where), username=_text(raw, "username", where),
            password=password, tls=parse_enum(TlsMode, raw.get("tls", "verify"), f"{where} tls"),
            fingerprint=raw.get("fingerprint"), ca_bundle=raw.get("ca_bundle"),
            timeout=_number(raw, "timeout_s", where, 30.0), system=system)
    except RedfishError as exc:
        raise ConfigError(str(exc)) from exc


def _qos_classes(raw_list: Any) -> tuple[QosClass, ...]:
    classes = [QosClass("default")]
    for index, raw in enumerate(_array(raw_list, "qos_classes")):
        where = f"qos_classes[{index}]"
        check_known_keys(where, raw, _QOS_KEYS)
        name = _text(raw, "name", where)
        windows = []
        for w_index, window in enumerate(_array(raw.get("windows", []), f"{where} windows")):
            w_where = f"QoS class {name!r} windows[{w_index}]"
            check_known_keys(w_where, window, _WINDOW_KEYS)
            match = _TIME_RE.match(str(window.get("start", "")))
            if match is None:
                raise ConfigError(f"{w_where}: start must be \"HH:MM\" (UTC)")
            days = window.get("days")
            if not isinstance(days, list) or not all(isinstance(d, int) for d in days):
                raise ConfigError(f"{w_where}: days must be a list of 0..6 (Monday = 0)")
            try:
                windows.append(MaintenanceWindow(
                    tuple(days), time(int(match[1]), int(match[2])),
                    timedelta(hours=_number(window, "hours", w_where))))
            except DomainError as exc:
                raise ConfigError(f"{w_where}: {exc}") from exc
        manual = raw.get("manual_only", False)
        if not isinstance(manual, bool):
            raise ConfigError(f"{where}: manual_only must be true or false")
        qos = QosClass(name, _integer(raw, "order", where, 0), tuple(windows), manual)
        classes = [c for c in classes if c.name != name] + [qos]
    return tuple(classes)


def _array(value: Any, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where} must be an array of tables ([[{where.split()[-1]}]])")
    return value


def _unique_name(raw: Mapping[str, Any], where: str, allowed: set[str], seen: set[str],
                 kind: str) -> str:
    """Check an array entry's keys and its required `name`, which must not be in `seen`
    (it is added). Raises ConfigError naming the entry."""
    check_known_keys(where, raw, allowed)
    name = _text(raw, "name", where)
    if name in seen:
        raise ConfigError(f"{where}: duplicate {kind} name {name!r}")
    seen.add(name)
    return name


def _text(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} is required and must be a non-empty string")
    return value


def _number(table: Mapping[str, Any], key: str, where: str,
            default: float | None = None) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: {key} must be a positive number")
    return float(value)


def _integer(table: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {key} must be a whole number ≥ 0")
    return value


def _opt_int(table: Mapping[str, Any], key: str, where: str) -> int | None:
    return _integer(table, key, where) if key in table else None
