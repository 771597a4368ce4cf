"""The lab topology model: what an emulated data centre looks like.

A topology file (``lab/topologies/*.yaml``, format in docs/lab.md) describes
clusters of redundancy groups of nodes, each node's model, starting firmware
and delivery preference, the emulator's timings, faults to inject on named
nodes, and optionally the model x starting-version matrix the validation
harness installs bundles on. `load_topology` reads and validates one file;
every problem names the file, line and field (`TopologyError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emulator.faults import FaultKind
from gateway.domain.cluster import AutonomyPolicy
from gateway.domain.delivery import DeliveryMethod
from gateway.domain.windows import DEFAULT_QOS, MaintenanceWindow, QosClass
from lab.topology_yaml import Problem, TopologyError

__all__ = [
    "DEFAULT_QOS",
    "AutonomyPolicy",
    "Cluster",
    "Combination",
    "Delivery",
    "EmulatorTimings",
    "Fault",
    "FaultKind",
    "Group",
    "MaintenanceWindow",
    "Matrix",
    "MatrixModel",
    "Node",
    "Problem",
    "QosClass",
    "StartingFirmware",
    "Topology",
    "TopologyError",
    "load_topology",
    "parse_topology",
]


# How a node prefers to receive an update: the gateway's own names
# (msc = virtual media boot-from-CD, simple_update = the BMC pulls,
# multipart_push = pushed to MultipartHttpPushUri).
Delivery = DeliveryMethod


@dataclass(frozen=True)
class EmulatorTimings:
    """How long the emulated BMCs take, in seconds."""

    flash_seconds: float = 2.0
    reset_seconds: float = 1.0
    bmc_restart_seconds: float = 3.0


@dataclass(frozen=True)
class Node:
    """One emulated server (one BMC with one host)."""

    name: str
    model: str
    firmware: Mapping[str, str]  # component ("BMC", "BIOS", "NIC", ...) -> installed version
    delivery: Delivery
    qos: str
    cluster: str
    group: str
    line: int = 0  # where the node was declared, for later messages
    personality: str | None = None  # a BMC family (emulator/personalities.py); None: dmtf


@dataclass(frozen=True)
class Group:
    """A redundancy group: at most `allowance` of its nodes may be down at once."""

    name: str
    nodes: tuple[str, ...]
    max_unavailable: int | None = None
    min_available: int | None = None

    @property
    def allowance(self) -> int:
        """How many nodes of this group may be updating at the same time (>= 0)."""
        if self.max_unavailable is not None:
            return min(self.max_unavailable, len(self.nodes))
        assert self.min_available is not None
        return max(0, len(self.nodes) - self.min_available)


@dataclass(frozen=True)
class Cluster:
    """A cluster: its groups and rollout policy (gateway.domain.cluster.Cluster's fields).

    ``failure_budget``: how many nodes may be failed or quarantined at once
    before the campaign pauses (0 = pause at the first failure).
    ``autonomy``: whether a campaign starts by itself (labs default to
    AUTO_APPROVE) or waits for an operator. ``max_concurrent``: optional cap
    on nodes of this cluster updating at once.
    """

    name: str
    groups: tuple[Group, ...]
    failure_budget: int
    autonomy: AutonomyPolicy = AutonomyPolicy.AUTO_APPROVE
    max_concurrent: int | None = None
    manager: str | None = None  # "slurm": the lab runs Slurm for it (lab/lab_slurm.py)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(name for group in self.groups for name in group.nodes)


@dataclass(frozen=True)
class Fault:
    """A fault injected on one node's emulated BMC (kinds and effects: emulator/faults.py).

    `component` limits a download/image/flash fault to one component;
    `count` is how many hits clear it (None: it stays); `seconds` is the
    added latency or the Retry-After value; `mode` is "refuse" or "timeout"
    for an unreachable BMC. None means the emulator's default.
    """

    node: str
    kind: FaultKind
    component: str | None = None
    count: int | None = None
    seconds: float | None = None
    mode: str | None = None

    @property
    def params(self) -> dict[str, str | int | float]:
        """The parameters as `emulator.faults.make_fault(kind, params)` takes them."""
        named = {"component": self.component, "count": self.count, "seconds": self.seconds,
                 "mode": self.mode}
        return {key: value for key, value in named.items() if value is not None}


@dataclass(frozen=True)
class StartingFirmware:
    """One named starting point of the validation matrix."""

    name: str
    firmware: Mapping[str, str]


@dataclass(frozen=True)
class MatrixModel:
    model: str
    starting: tuple[StartingFirmware, ...]


@dataclass(frozen=True)
class Combination:
    """One cell of the validation matrix: a model at a starting point, updated one way."""

    model: str
    starting: StartingFirmware
    delivery: Delivery

    @property
    def key(self) -> str:
        """Stable id, e.g. "FF-1U-R450/previous/msc" (report rows, JUnit class names)."""
        return f"{self.model}/{self.starting.name}/{self.delivery.value}"


@dataclass(frozen=True)
class Matrix:
    """Every model x starting firmware x delivery method the harness tries."""

    models: tuple[MatrixModel, ...]
    deliveries: tuple[Delivery, ...] = tuple(Delivery)

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(entry.model for entry in self.models)

    def combinations(self) -> tuple[Combination, ...]:
        """Every (model, starting point, delivery), models and points in file order."""
        return tuple(Combination(entry.model, starting, delivery)
                     for entry in self.models for starting in entry.starting
                     for delivery in self.deliveries)


@dataclass(frozen=True)
class Topology:
    """A whole lab: clusters, nodes (in file order), QoS classes, timings, faults, matrix."""

    name: str
    source: str
    clusters: tuple[Cluster, ...]
    nodes: tuple[Node, ...]
    qos_classes: tuple[QosClass, ...] = (DEFAULT_QOS,)
    emulator: EmulatorTimings = field(default_factory=EmulatorTimings)
    faults: tuple[Fault, ...] = ()
    matrix: Matrix | None = None
    description: str = ""

    def node(self, name: str) -> Node:
        """The node called `name` (KeyError if there is none)."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def models(self) -> tuple[str, ...]:
        """Distinct node models, in order of first appearance."""
        return tuple(dict.fromkeys(node.model for node in self.nodes))

    def faults_for(self, node_name: str) -> tuple[Fault, ...]:
        return tuple(fault for fault in self.faults if fault.node == node_name)


def parse_topology(text: str, file: str = "<topology>") -> Topology:
    """Validate topology YAML `text`; `file` names it in messages.

    Raises TopologyError listing every problem as `file:line: field: message`.
    """
    from lab.topology_parse import build_topology  # the parser imports this model

    return build_topology(text, file)


def load_topology(path: str | Path) -> Topology:
    """Read and validate the topology file at `path`.

    Raises TopologyError (unreadable file, invalid YAML, or any schema or
    consistency problem, each naming `path:line: field`).
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TopologyError([Problem(file, 0, "", f"cannot read topology: {reason}")]) from exc
    return parse_topology(text, file)
