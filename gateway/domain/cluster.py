"""The cluster model: redundancy groups, nodes, QoS classes and cluster policy.

Every node belongs to exactly one redundancy group of its cluster. A group's
*allowance* is how many of its nodes may be unavailable at the same instant;
it is declared either directly (``max_unavailable``) or as the number that
must stay up (``min_available``, converted against the group's size). A node
that is down, failed or quarantined counts against the allowance just like a
node that is being updated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from typing import TypeVar

from gateway.domain.cluster_layout import Layout, layout_of
from gateway.domain.errors import InvalidClusterError
from gateway.domain.windows import DEFAULT_QOS, QosClass

_T = TypeVar("_T")


class Health(StrEnum):
    """What the gateway last observed of a node. Only UP counts as available."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class AutonomyPolicy(StrEnum):
    """Whether a new campaign on the cluster starts by itself or waits for an operator."""

    AUTO_APPROVE = "auto_approve"
    REQUIRE_APPROVAL = "require_approval"


@dataclass(frozen=True)
class RedundancyGroup:
    """A set of nodes that back each other up. Set exactly one of the two limits."""

    name: str
    max_unavailable: int | None = None
    min_available: int | None = None

    def __post_init__(self) -> None:
        if (self.max_unavailable is None) == (self.min_available is None):
            raise InvalidClusterError(
                f"group {self.name!r}: set exactly one of max_unavailable and min_available"
            )
        limit = self.max_unavailable if self.max_unavailable is not None else self.min_available
        if limit is not None and limit < 0:
            raise InvalidClusterError(f"group {self.name!r}: limits must be ≥ 0, got {limit}")

    def allowance(self, size: int) -> int:
        """How many of ``size`` members may be unavailable at once (0..size)."""
        if self.max_unavailable is not None:
            return min(self.max_unavailable, size)
        assert self.min_available is not None
        return max(size - self.min_available, 0)


@dataclass(frozen=True)
class NodeSpec:
    """A managed node: its id (the BMC's registration name), group and QoS class name."""

    id: str
    group: str
    qos: str = DEFAULT_QOS.name


@dataclass(frozen=True)
class Cluster:
    """A managed cluster and its rollout policy.

    ``failure_budget``: how many nodes may be failed or quarantined at once
    before the campaign pauses (0 = pause at the first failure).
    ``max_concurrent``: optional per-cluster cap on nodes updating at once; the
    gateway-wide cap is passed to the planner separately.
    Raises InvalidClusterError when the declaration is inconsistent.
    """

    name: str
    groups: tuple[RedundancyGroup, ...]
    nodes: tuple[NodeSpec, ...]
    qos_classes: tuple[QosClass, ...] = (DEFAULT_QOS,)
    failure_budget: int = 0
    autonomy: AutonomyPolicy = AutonomyPolicy.REQUIRE_APPROVAL
    max_concurrent: int | None = None
    _groups: dict[str, RedundancyGroup] = field(init=False, repr=False, compare=False)
    _nodes: dict[str, NodeSpec] = field(init=False, repr=False, compare=False)
    _qos: dict[str, QosClass] = field(init=False, repr=False, compare=False)
    _members: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _allowances: dict[str, int] = field(init=False, repr=False, compare=False)
    _by_order: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    _group_map: dict[str, str] = field(init=False, repr=False, compare=False)
    _qos_map: dict[str, QosClass] = field(init=False, repr=False, compare=False)
    _sizes: dict[str, int] = field(init=False, repr=False, compare=False)
    _node_set: frozenset[str] = field(init=False, repr=False, compare=False)
    _rank: dict[str, int] = field(init=False, repr=False, compare=False)
    _layout: Layout = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = _unique(self.name, "group", [(g.name, g) for g in self.groups])
        nodes = _unique(self.name, "node", [(n.id, n) for n in self.nodes])
        qos = _unique(self.name, "QoS class", [(q.name, q) for q in self.qos_classes])
        members: dict[str, list[str]] = {name: [] for name in groups}
        for node in nodes.values():
            if node.group not in groups:
                raise InvalidClusterError(
                    f"cluster {self.name!r}: node {node.id!r} names unknown group {node.group!r}"
                )
            if node.qos not in qos:
                raise InvalidClusterError(
                    f"cluster {self.name!r}: node {node.id!r} names unknown QoS class {node.qos!r}"
                )
            members[node.group].append(node.id)
        for group in groups.values():
            size = len(members[group.name])
            if group.min_available is not None and group.min_available > size:
                raise InvalidClusterError(
                    f"cluster {self.name!r}: group {group.name!r} has {size} nodes but "
                    f"min_available is {group.min_available}"
                )
        if len(qos) > 256:  # the layout keeps a node's class in one byte
            raise InvalidClusterError(f"cluster {self.name!r}: more than 256 QoS classes")
        if self.failure_budget < 0:
            raise InvalidClusterError(f"cluster {self.name!r}: failure_budget must be ≥ 0")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise InvalidClusterError(f"cluster {self.name!r}: max_concurrent must be ≥ 1")
        object.__setattr__(self, "_groups", groups)
        object.__setattr__(self, "_nodes", nodes)
        object.__setattr__(self, "_qos", qos)
        object.__setattr__(
            self, "_members", {name: tuple(sorted(ids)) for name, ids in members.items()}
        )
        object.__setattr__(self, "_allowances", {
            name: group.allowance(len(members[name])) for name, group in groups.items()})
        object.__setattr__(self, "_by_order", {
            name: tuple(sorted(ids, key=lambda n: (qos[nodes[n].qos].order, n)))
            for name, ids in members.items()})
        object.__setattr__(self, "_group_map", {n: spec.group for n, spec in nodes.items()})
        object.__setattr__(self, "_qos_map", {n: qos[spec.qos] for n, spec in nodes.items()})
        object.__setattr__(self, "_node_set", frozenset(nodes))
        object.__setattr__(self, "_rank", {n: i for i, n in enumerate(
            chain.from_iterable(self._by_order.values()))})
        object.__setattr__(self, "_sizes", {name: len(ids) for name, ids in members.items()})
        object.__setattr__(self, "_layout", layout_of(
            self._by_order, self._allowances, self._qos_map, self.qos_classes))

    def node(self, node_id: str) -> NodeSpec:
        """The node's spec; KeyError if the cluster has no such node."""
        return self._nodes[node_id]

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def node_ids(self) -> tuple[str, ...]:
        """All node ids, sorted."""
        return tuple(sorted(self._nodes))

    def group_names(self) -> tuple[str, ...]:
        return tuple(sorted(self._groups))

    def members(self, group: str) -> tuple[str, ...]:
        """Ids of the nodes in ``group``, sorted."""
        return self._members[group]

    def members_in_order(self, group: str) -> tuple[str, ...]:
        """Ids of the nodes in ``group`` by QoS order, then id: the order they update in."""
        return self._by_order[group]

    def order_map(self) -> Mapping[str, tuple[str, ...]]:
        """group -> members_in_order (admission walks every group on a cold tick)."""
        return self._by_order

    def rank_map(self) -> Mapping[str, int]:
        """Node id -> its place in update order within its group (members_in_order)."""
        return self._rank

    def layout(self) -> Layout:
        """Every member flat, group after group in update order (cluster_layout.py)."""
        return self._layout

    def group_map(self) -> Mapping[str, str]:
        """node id -> its group, for every node (admission counts through it every tick)."""
        return self._group_map

    def qos_map(self) -> Mapping[str, QosClass]:
        """node id -> its QoS class (admission looks it up per node it walks)."""
        return self._qos_map

    def allowances(self) -> Mapping[str, int]:
        """group -> its allowance (see ``allowance``)."""
        return self._allowances

    def group_sizes(self) -> Mapping[str, int]:
        """group -> how many members it has."""
        return self._sizes

    def node_set(self) -> frozenset[str]:
        return self._node_set

    def allowance(self, group: str) -> int:
        """How many nodes of ``group`` may be unavailable at any instant."""
        return self._allowances[group]

    def qos_of(self, node_id: str) -> QosClass:
        return self._qos[self._nodes[node_id].qos]

    def group_of(self, node_id: str) -> str:
        return self._nodes[node_id].group


def _unique(cluster: str, kind: str, items: list[tuple[str, _T]]) -> dict[str, _T]:
    result: dict[str, _T] = {}
    for name, item in items:
        if not name:
            raise InvalidClusterError(f"cluster {cluster!r}: a {kind} has an empty name")
        if name in result:
            raise InvalidClusterError(f"cluster {cluster!r}: duplicate {kind} {name!r}")
        result[name] = item
    return result


def down_per_group(cluster: Cluster, health: Mapping[str, Health]) -> dict[str, int]:
    """Per group, how many members are not observed UP (missing health counts as unknown)."""
    return {
        group: sum(1 for n in cluster.members(group) if health.get(n, Health.UNKNOWN) != Health.UP)
        for group in cluster.group_names()
    }
