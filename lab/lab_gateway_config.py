"""The gateway configuration (TOML) for a lab, generated from its topology.

One file drives `fleetflash gateway serve --config FILE`; restarting the
gateway with the same file picks the lab back up (same name, state
directory, ports and media secret). What goes in:

- ``[[sources]]``: the lab's publisher, trusted for OwningEntity FLEETFLASH,
  ImageURIs under the publisher's URL and the lab's fresh signing key;
- ``[media]`` and ``[api]`` on loopback ports picked by `lab up`;
- ``[orchestrator]`` tuned to the emulator's timings, receiving the BMCs' pushed
  events (a failed flash is reported at once; MONITOR's timeout, 45 s or five
  times the expected update time rather than the default hour, is the last
  resort for a BMC that says nothing);
- ``[[qos_classes]]``, ``[[clusters]]`` and ``[[bmcs]]`` from the topology,
  topology node names as the gateway's node ids.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.domain.windows import QosClass
from lab.topology import Cluster, Topology

# The sample bundle's models update three components (BMC, BIOS, NIC).
COMPONENTS_PER_UPDATE = 3
LAB_OWNING_ENTITY = "FLEETFLASH"
# Emulated BMCs answer on loopback in milliseconds; a stuck request should cost a retry,
# not the 30 s default, so it cannot use up a step's whole timeout.
BMC_TIMEOUT_S = 10
SOURCE_NAME = "lab-publisher"
# How long the lab's drains wait for jobs (the lab's workload jobs are shorter).
SLURM_MAX_WAIT_S = 120
# While BMCs push events, MONITOR still looks by itself this often (a lost event costs
# at most this long).
EVENT_FALLBACK_S = 5.0


@dataclass(frozen=True)
class LabEndpoints:
    """Everything the gateway config needs besides the topology."""

    workdir: Path
    listener_port: int
    media_port: int
    api_port: int
    publisher_url: str  # ends in "/bundles/"
    cim_username: str
    cim_password_hash: str
    trusted_key: Path
    bmcs: Sequence[Mapping[str, str]]  # emulator inventory, BMC i = topology.nodes[i]
    # cluster -> the slurm.conf of the Slurm the lab started for it (manager: slurm)
    slurm_confs: Mapping[str, Path] = field(default_factory=dict)
    # Where the gateway receives the BMCs' pushed events (None: it polls them).
    events_port: int | None = None


def _toml(value: Any) -> str:
    """One TOML value; strings and arrays use JSON syntax, which TOML shares."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def _table(header: str, values: Mapping[str, Any]) -> str:
    body = "".join(f"{key} = {_toml(value)}\n" for key, value in values.items())
    return f"\n{header}\n{body}"


def orchestrator_settings(topology: Topology) -> tuple[dict[str, Any], dict[str, float]]:
    """Executor settings and step timeouts (seconds) scaled to the emulator's timings."""
    timings = topology.emulator
    expected = (COMPONENTS_PER_UPDATE * timings.flash_seconds + timings.reset_seconds
                + timings.bmc_restart_seconds)
    settings: dict[str, Any] = {
        "tick_s": 0.2, "lease_s": 10, "workers": 16, "poll_max_s": 0.5, "good_answers": 2,
        "probe_interval_s": 0.2, "expected_node_s": max(60, round(10 * expected)),
        "health_interval_s": 3600, "retry_base_s": 0.5, "retry_max_s": 5,
        "retry_attempts": 5, "cd_settle_s": max(5, round(3 * expected)),
        "activation_settle_s": max(5, round(2 * (timings.reset_seconds
                                                 + timings.bmc_restart_seconds))),
    }
    timeouts: dict[str, float] = {
        "precheck": 60, "deliver": 60, "monitor": max(45, round(5 * expected)), "reset": 60,
        "wait_back": max(60, round(10 * expected)), "verify": 30, "eject": 60, "postcheck": 60}
    return settings, timeouts


def _qos_table(qos: QosClass) -> dict[str, Any]:
    table: dict[str, Any] = {"name": qos.name, "order": qos.order,
                             "manual_only": qos.manual_only}
    if qos.windows:
        table["windows"] = [{"days": list(window.weekdays),
                             "start": window.start.strftime("%H:%M"),
                             "hours": window.length.total_seconds() / 3600}
                            for window in qos.windows]
    return table


def cluster_deliveries(topology: Topology, cluster: Cluster) -> list[str]:
    """The gateway's per-cluster delivery order: the cluster's nodes' preferences, most
    common first (the gateway chooses per cluster, the topology per node)."""
    counts = Counter(node.delivery.value for node in topology.nodes
                     if node.cluster == cluster.name)
    return [method for method, _count in counts.most_common()]


def render_gateway_config(topology: Topology, endpoints: LabEndpoints) -> str:
    """The whole gateway TOML for `topology` (raises nothing; inputs were validated)."""
    publisher_host = endpoints.publisher_url.split("/")[2].rsplit(":", 1)[0]
    text = f"# Generated by `fleetflash lab up` for topology {topology.name!r}.\n"
    text += _table("[gateway]", {"name": f"lab-{topology.name}",
                                 "state_dir": str(endpoints.workdir / "gateway")})
    text += _table("[listener]", {"http": f"127.0.0.1:{endpoints.listener_port}"})
    text += _table("[cache]", {"max_size": "2GiB"})
    text += _table("[[sources]]", {
        "name": SOURCE_NAME, "clients": [f"{publisher_host}/32"],
        "username": endpoints.cim_username, "password_hash": endpoints.cim_password_hash,
        "owning_entities": [LAB_OWNING_ENTITY],
        "image_uri_prefixes": [endpoints.publisher_url],
        "trusted_keys": [str(endpoints.trusted_key)]})
    text += _table("[media]", {"http": f"127.0.0.1:{endpoints.media_port}",
                               "base_url": f"http://127.0.0.1:{endpoints.media_port}"})
    text += _table("[api]", {"listen": f"127.0.0.1:{endpoints.api_port}"})
    settings, timeouts = orchestrator_settings(topology)
    if endpoints.events_port is not None:
        # The BMCs push their update results: a failed flash is seen the moment it fails
        # (polling their logs is the fallback, and the step timeout the last resort).
        settings |= {"events_http": f"127.0.0.1:{endpoints.events_port}",
                     "event_fallback_s": EVENT_FALLBACK_S}
    text += _table("[orchestrator]", settings)
    text += _table("[orchestrator.timeouts]", timeouts)
    for qos in topology.qos_classes:  # a class named like the built-in "default" replaces it
        text += _table("[[qos_classes]]", _qos_table(qos))
    for cluster in topology.clusters:
        table: dict[str, Any] = {"name": cluster.name, "failure_budget": cluster.failure_budget,
                                 "autonomy": cluster.autonomy.value,
                                 "delivery": cluster_deliveries(topology, cluster)}
        if cluster.max_concurrent is not None:
            table["max_concurrent"] = cluster.max_concurrent
        text += _table("[[clusters]]", table)
        for group in cluster.groups:
            limit = ({"max_unavailable": group.max_unavailable}
                     if group.max_unavailable is not None
                     else {"min_available": group.min_available})
            text += _table("[[clusters.groups]]", {"name": group.name, **limit})
        if cluster.name in endpoints.slurm_confs:
            text += _table("[clusters.cluster_manager]", {
                "manager": "slurm", "slurm_conf": str(endpoints.slurm_confs[cluster.name]),
                "mode": "drain", "max_wait_s": SLURM_MAX_WAIT_S})
    for node, bmc in zip(topology.nodes, endpoints.bmcs, strict=True):
        text += _table("[[bmcs]]", {
            "name": node.name, "cluster": node.cluster, "group": node.group, "qos": node.qos,
            "url": bmc["url"], "username": bmc["username"], "password": bmc["password"],
            "timeout_s": BMC_TIMEOUT_S})
    return text
