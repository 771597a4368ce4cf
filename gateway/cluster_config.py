"""The [orchestrator], [[qos_classes]], [[clusters]] and [[bmcs]] parts of the gateway config.

gateway.config_model validates their shape (keys, types, ranges: the tables
OrchestratorTable, QosTable, ClusterTable, GroupTable, BmcTable); this module builds
from those typed tables the domain clusters, BMC endpoints and executor settings,
checking what needs more than one table, the environment or the file system. See
docs/configuration.md ("Clusters and BMCs"). BMC passwords come from ``password_env``
or ``password_file`` (or, for labs, ``password``); they never appear in an error message.
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

from pydantic import ValidationError

from gateway.cluster_managers.config import check_node_names, parse_manager
from gateway.cluster_model import BmcTable, ClusterTable, QosTable
from gateway.config import ConfigError, GatewayConfig
from gateway.config_schema import config_error
from gateway.domain import (
    Cluster,
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
    ClusterSettings,
    Hook,
    OrchestratorSettings,
)
from gateway.redfish import BmcEndpoint, RedfishError
from gateway.redfish.endpoint import ALL_SYSTEMS, system_key

LOG = logging.getLogger(__name__)


def load_clusters(config: GatewayConfig, registered: Sequence[Mapping[str, Any]] = ()
                  ) -> tuple[ClusterSettings, ...]:
    """Every declared cluster with its BMCs: the config file's [[bmcs]] and the
    `registered` entries of the BMC registry (same shape; gateway/store/bmc_registry.py).
    Raises ConfigError naming the bad entry, also for a name in both sources."""
    file = config.file
    qos = _qos_classes(file.qos_classes)
    in_file = {bmc.name for bmc in file.bmcs}
    for entry in registered:
        if entry.get("name") in in_file:
            raise ConfigError(f"BMC {entry.get('name')!r} is both in the config file "
                              "[[bmcs]] and in the BMC registry; remove one "
                              "(fleetflash bmcs remove NAME, or delete the [[bmcs]] table)")
    base = config.path.parent
    endpoints: dict[str, dict[str, BmcEndpoint]] = {}
    specs: dict[str, list[NodeSpec]] = {}
    services: dict[tuple[str, str], str] = {}  # (url, system) -> the entry registering it
    for bmc in [*file.bmcs, *_registry_entries(registered, in_file)]:
        where = f"BMC {bmc.name!r}"
        endpoint = _endpoint(bmc, where, base)
        _refuse_duplicate(endpoint, services, where)
        endpoints.setdefault(bmc.cluster, {})[bmc.name] = endpoint
        specs.setdefault(bmc.cluster, []).append(NodeSpec(bmc.name, bmc.group, bmc.qos))
    result = []
    for table in file.clusters:
        result.append(_cluster(table, qos, specs.pop(table.name, []),
                               endpoints.get(table.name, {}), base))
    if specs:
        raise ConfigError(f"bmcs name unknown cluster(s): {', '.join(sorted(specs))}")
    return tuple(result)


def bmc_table(entry: Mapping[str, Any], where: str) -> BmcTable:
    """A registry entry (or a BMC about to be registered) checked like a [[bmcs]] table.
    Raises ConfigError naming `where` and the bad key."""
    try:
        return BmcTable.model_validate(dict(entry))
    except ValidationError as exc:
        raise config_error(exc, where, entry) from None


def _registry_entries(registered: Sequence[Mapping[str, Any]], taken: set[str]
                      ) -> list[BmcTable]:
    tables: list[BmcTable] = []
    for entry in registered:
        table = bmc_table(entry, f"registry entry {entry.get('name')!r}")
        if table.name in taken:
            raise ConfigError(f"registry entry {table.name!r}: duplicate BMC name "
                              f"{table.name!r}")
        taken.add(table.name)
        tables.append(table)
    return tables


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
    """The executor settings of the [orchestrator] table (every key optional)."""
    table = config.file.orchestrator
    timeouts = dict(DEFAULT_TIMEOUTS)
    timeouts.update({NodeStep(step): seconds for step, seconds
                     in table.timeouts.model_dump().items() if seconds is not None})
    tunables = table.model_dump(exclude_none=True, exclude={
        "timeouts", "retry_attempts", "retry_base_s", "retry_max_s", "events_http"})
    return OrchestratorSettings(
        **tunables, timeouts=timeouts, events_http=table.events_http,
        retry=RetryPolicy(attempts=table.retry_attempts, base=table.retry_base_s,
                          max_delay=table.retry_max_s))


def _cluster(table: ClusterTable, qos: tuple[QosClass, ...], nodes: list[NodeSpec],
             endpoints: dict[str, BmcEndpoint], base: Path) -> ClusterSettings:
    where = f"cluster {table.name!r}"
    try:
        cluster = Cluster(
            name=table.name,
            groups=tuple(RedundancyGroup(g.name, g.max_unavailable, g.min_available)
                         for g in table.groups),
            nodes=tuple(nodes), qos_classes=qos, failure_budget=table.failure_budget,
            autonomy=table.autonomy, max_concurrent=table.max_concurrent)
    except DomainError as exc:
        raise ConfigError(str(exc)) from exc
    manager = None
    if table.cluster_manager is not None:
        manager = parse_manager(table.cluster_manager, where, base)
        check_node_names(manager, cluster.node_ids(), where)
    settings = ClusterSettings(
        cluster=cluster, endpoints=endpoints, delivery=tuple(table.delivery),
        allow_downgrade=table.allow_downgrade, activation=table.activation,
        drain=_hook(table.drain_command, table.drain_webhook, table.hook_timeout_s),
        undrain=_hook(table.undrain_command, table.undrain_webhook, table.hook_timeout_s),
        manager=manager)
    refusal = settings.staged_refusal() if settings.windowless_nodes() else None
    if refusal:
        raise ConfigError(refusal)
    return settings


def _hook(command: tuple[str, ...] | None, webhook: str | None, timeout: float
          ) -> Hook | None:
    if command is not None:
        return Hook(command=command, timeout_s=timeout)
    if webhook is not None:
        return Hook(webhook=webhook, timeout_s=timeout)
    return None


def _endpoint(bmc: BmcTable, where: str, base: Path) -> BmcEndpoint:
    if bmc.password_env is not None:
        password = os.environ.get(bmc.password_env)
        if password is None:
            raise ConfigError(f"{where}: environment variable {bmc.password_env} is not set")
    elif bmc.password_file is not None:
        path = Path(bmc.password_file).expanduser()
        path = path if path.is_absolute() else base / path
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read password_file {path}: "
                              f"{exc.strerror}") from exc
    else:
        assert bmc.password is not None  # BmcTable: exactly one password source
        password = bmc.password
    try:
        return BmcEndpoint(
            name=bmc.name, url=bmc.url, username=bmc.username, password=password,
            tls=bmc.tls, fingerprint=bmc.fingerprint, ca_bundle=bmc.ca_bundle,
            timeout=bmc.timeout_s, system=ALL_SYSTEMS if bmc.systems else bmc.system)
    except RedfishError as exc:
        raise ConfigError(str(exc)) from exc


def _qos_classes(tables: Sequence[QosTable]) -> tuple[QosClass, ...]:
    classes = [QosClass("default")]
    for table in tables:
        windows = []
        for index, window in enumerate(table.windows):
            hour, minute = (int(part) for part in window.start.split(":"))
            try:
                windows.append(MaintenanceWindow(tuple(window.days), time(hour, minute),
                                                 timedelta(hours=window.hours)))
            except DomainError as exc:
                raise ConfigError(f"QoS class {table.name!r} windows[{index}]: {exc}") from exc
        qos = QosClass(table.name, table.order, tuple(windows), table.manual_only)
        classes = [c for c in classes if c.name != table.name] + [qos]
    return tuple(classes)
