"""Tunables of the executor and per-cluster execution settings (plain dataclasses).

Built from the [orchestrator] and [[clusters]] tables (gateway.cluster_model) by
gateway.cluster_config; tests and the benchmark build them directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta

from gateway.cluster_managers.port import ManagerSettings
from gateway.config_schema import HostPort
from gateway.domain import (
    DEFAULT_PREFERENCE,
    Cluster,
    DeliveryMethod,
    NodeSpec,
    NodeStep,
    RetryPolicy,
)
from gateway.domain.activation import Activation
from gateway.redfish import BmcEndpoint
from gateway.redfish.tasks import NEW_MONITOR_404_GRACE_S

__all__ = ["DEFAULT_TIMEOUTS", "Activation", "ClusterSettings", "Hook", "OrchestratorSettings"]

# Seconds each step may take before the node fails (the issue: "every step has a timeout").
DEFAULT_TIMEOUTS: dict[NodeStep, float] = {
    NodeStep.STAGE: 3600.0,
    NodeStep.PRECHECK: 120.0,
    NodeStep.DRAIN: 600.0,
    NodeStep.DELIVER: 900.0,
    NodeStep.MONITOR: 3600.0,
    NodeStep.RESET: 300.0,
    NodeStep.WAIT_BACK: 1200.0,
    NodeStep.VERIFY: 600.0,
    NodeStep.EJECT: 120.0,
    NodeStep.POSTCHECK: 600.0,
    NodeStep.UNDRAIN: 600.0,
    NodeStep.FAILED: 300.0,
}


@dataclass(frozen=True)
class Hook:
    """A drain or undrain hook: an argv (``{node}``/``{cluster}`` substituted) or a webhook
    URL that receives a JSON POST. Exactly one of the two is set."""

    command: tuple[str, ...] = ()
    webhook: str | None = None
    timeout_s: float = 300.0


@dataclass(frozen=True)
class ClusterSettings:
    """One managed cluster: the domain model plus how to reach and treat its nodes.

    ``endpoints``: node id -> BMC registration. ``delivery``: allowed methods in
    order of preference. ``drain``/``undrain``: optional hooks. ``manager``: the
    cluster manager asked about nodes (docs/cluster-managers.md), None without one.
    ``allow_downgrade``: an operator may roll this cluster back to an older image.
    """

    cluster: Cluster
    endpoints: dict[str, BmcEndpoint]
    delivery: tuple[DeliveryMethod, ...] = DEFAULT_PREFERENCE
    drain: Hook | None = None
    undrain: Hook | None = None
    manager: ManagerSettings | None = None
    allow_downgrade: bool = False
    activation: Activation = Activation.IMMEDIATE

    @property
    def name(self) -> str:
        return self.cluster.name

    def with_node(self, spec: NodeSpec, endpoint: BmcEndpoint) -> ClusterSettings:
        """These settings with node `spec.id` added, or replaced, reached at `endpoint`.
        Raises InvalidClusterError (for example an unknown group)."""
        nodes = tuple(n for n in self.cluster.nodes if n.id != spec.id) + (spec,)
        return dataclasses.replace(
            self, cluster=dataclasses.replace(self.cluster, nodes=nodes),
            endpoints={**self.endpoints, spec.id: endpoint})

    def windowless_nodes(self) -> dict[str, list[str]]:
        """QoS class -> nodes of this cluster whose class has no maintenance window."""
        found: dict[str, list[str]] = {}
        for node in self.cluster.node_ids():
            qos = self.cluster.qos_of(node)
            if not qos.windows:
                found.setdefault(qos.name, []).append(node)
        return found

    def staged_refusal(self) -> str | None:
        """Why a campaign cannot be created on this cluster because of its activation
        policy: a staged cluster with nodes whose QoS class has no maintenance window
        (their reset would never be admitted). None otherwise."""
        if self.activation is not Activation.STAGED:
            return None
        missing = self.windowless_nodes()
        if missing:
            return (f"cluster {self.name!r}: activation = \"staged\" activates only inside "
                    "maintenance windows, and " + "; ".join(
                        f"QoS class {qos!r} (nodes {', '.join(nodes[:5])}"
                        f"{', …' if len(nodes) > 5 else ''}) has none"
                        for qos, nodes in sorted(missing.items())))
        return None

    @property
    def staged(self) -> bool:
        return self.activation is Activation.STAGED


@dataclass(frozen=True)
class OrchestratorSettings:
    """Executor tunables. Seconds unless named otherwise.

    tick_s: how often the scheduler looks at campaigns. lease_s: node and
    scheduler lease length (a crashed gateway's nodes are taken over after it).
    workers: threads that carry out node steps. poll_max_s: longest wait between
    two looks at a task or at versions (Retry-After is honoured below it).
    good_answers/probe_interval_s: "BMC back" needs this many consecutive good
    probes this far apart. expected_node_s: one node's update, for windows.
    expected_reset_s: the disruptive part of a staged node's update (its reset, the
    BMC firmware if any, the checks after), for windows and planning of staged clusters.
    health_interval_s: how often idle nodes of active campaigns are probed.
    global_max_concurrent: nodes updating at once across every cluster.
    leader_share: with several gateways on one database, the part of an equal share of
    new nodes the scheduler's leader drives itself (it also plans, admits and probes
    for the whole cluster: docs/database.md); alone, a gateway drives every node.
    cd_settle_s: after a gateway restart, how long an update CD (or a BMC's download)
    that was reading from the previous process may still be running before the
    gateway concludes it lost its media and boots it again.
    max_redeliveries: how often one node's delivery is repeated after restarts.
    activation_settle_s: how long a failed node's version read-back waits for the end
    of the update's activation (the update CD's reboot to disk, the BMC's restart, the
    task's end) before it reads the versions anyway.
    hidden_task_grace_s: after a restart, how long an update request the previous process
    may have sent is looked for among the BMC's tasks (a new task may answer 404 for a
    while: docs/interop.md) before the update is sent again.
    events_http: HOST:PORT the BMC event receiver listens on (None: no subscriptions,
    MONITOR polls). events_url: the receiver's base URL as the BMCs reach it (default
    http://HOST:PORT). event_fallback_s: while a node's BMC pushes events, MONITOR
    looks by itself only this often (events wake it at once).
    """

    tick_s: float = 0.5
    lease_s: float = 30.0
    workers: int = 16
    poll_max_s: float = 5.0
    good_answers: int = 3
    probe_interval_s: float = 1.0
    expected_node_s: float = 1800.0
    expected_reset_s: float = 600.0
    health_interval_s: float = 60.0
    global_max_concurrent: int | None = None
    leader_share: float = 0.75
    inventory_workers: int = 16
    cd_settle_s: float = 900.0
    max_redeliveries: int = 3
    activation_settle_s: float = 20.0
    hidden_task_grace_s: float = NEW_MONITOR_404_GRACE_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: dict[NodeStep, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    auto_campaigns: bool = True
    events_http: HostPort | None = None
    events_url: str = ""
    event_fallback_s: float = 30.0

    def timeout(self, step: NodeStep) -> timedelta:
        return timedelta(seconds=self.timeouts.get(step, DEFAULT_TIMEOUTS.get(step, 600.0)))

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_s)
