"""A cluster's members laid out flat for admission's whole-fleet passes.

Every member in one sequence, group after group, each group in update order (QoS
order, then id). A group is then a slice of that sequence, so per-node facts become
byte strings (one byte per member, 0 or 1) and per-group questions become C calls on
slices of them (``bytes.count``, ``bytes.find``) mapped over the groups: a count of
100,000 nodes without a Python step per node or per group (admission_flat.py).
Computed once with the cluster, as its other lookup tables are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import itemgetter
from typing import Any

from gateway.domain.windows import QosClass


@dataclass(frozen=True)
class Layout:
    """``nodes``: every member, group after group in ``groups`` order, each group in
    update order; group ``groups[i]`` is ``nodes[starts[i]:ends[i]]``. Per group:
    ``allowances`` and ``divisors`` (the allowance, at least 1). Per node:
    ``qos_codes`` (its class's place in the cluster's ``qos_classes``, one byte) and
    ``qos_orders``. ``index``: group -> its place.

    ``position``: node -> its place in ``nodes``; ``id_places``: the same for each of
    ``ids`` in turn (read side by side with a mapping in ``ids`` order, no lookup).
    ``ids``: the node ids sorted, the order the store lists runs and health in (a
    dict's values in its own order are read 15x faster than looked up by key);
    ``to_layout``: a sequence in ``ids`` order rearranged into layout order, in C."""

    nodes: tuple[str, ...]
    groups: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    allowances: tuple[int, ...]
    divisors: tuple[int, ...]
    index: dict[str, int]
    qos_codes: bytes
    qos_orders: tuple[int, ...]
    ids: tuple[str, ...]
    position: dict[str, int]
    id_places: tuple[int, ...]
    to_layout: Callable[[Sequence[Any]], Sequence[Any]]


def layout_of(in_order: Mapping[str, tuple[str, ...]], allowances: Mapping[str, int],
              qos_map: Mapping[str, QosClass], qos_classes: tuple[QosClass, ...]) -> Layout:
    """The layout of a cluster from its members in update order per group."""
    groups = tuple(in_order)
    nodes = tuple(chain.from_iterable(in_order.values()))
    ends = tuple(accumulate(len(in_order[group]) for group in groups))
    code = {q.name: i for i, q in enumerate(qos_classes)}  # < 256: Cluster checks
    allowance = tuple(allowances[group] for group in groups)
    ids = tuple(sorted(nodes))
    place = {node: i for i, node in enumerate(ids)}
    order = [place[node] for node in nodes]
    # itemgetter of one index returns the item, not a 1-tuple; of none it is an error.
    to_layout: Callable[[Sequence[Any]], Sequence[Any]] = (
        itemgetter(*order) if len(order) > 1 else lambda seq: [seq[i] for i in order])
    return Layout(
        nodes=nodes, groups=groups, starts=(0, *ends)[:len(ends)], ends=ends,
        allowances=allowance, divisors=tuple(max(a, 1) for a in allowance),
        index={group: i for i, group in enumerate(groups)},
        qos_codes=bytes(code[qos_map[node].name] for node in nodes),
        qos_orders=tuple(qos_map[node].order for node in nodes),
        ids=ids,
        position={node: i for i, node in enumerate(nodes)},
        id_places=tuple(sorted(range(len(order)), key=order.__getitem__)), to_layout=to_layout)
