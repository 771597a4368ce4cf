"""Admission's whole-fleet count and walk, in C passes over the cluster's layout.

A new AdmissionBook (the first tick after a start or a leadership change), or one
that saw a large batch move, counts every node and walks every group. Done member by
member and group by group in Python, that was 55–130 ms at 100,000 nodes
(docs/performance.md, "Cold tick"). Here every per-node fact is one byte per member
in the cluster's layout order (cluster_layout.py): a run's step, canary and held flags
are one byte it carries (NodeRun.admission_byte), read by one ``map`` over the runs
(``facts``); a book keeps those bytes and patches only the members that changed
(``patch``), so counting anew after a large batch reads no run again. Masks come from
the bytes by ``bytes.translate`` and are combined as ints; per-group counts are
``bytes.count`` on each group's slice, and what a group offers is found with
``bytes.find`` from its start, one round per member it has room for, each round one
``map`` over the groups.

The answer is the one ``AdmissionBook._walk`` gives for every group (and so the one
the node-by-node rule gives): the property tests replay both against ``_decide``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import compress, islice, repeat
from operator import add, attrgetter, floordiv, ge, gt, is_not, neg, sub
from typing import TypeVar

from gateway.domain.admission import _OCCUPYING_IDS
from gateway.domain.cluster import Cluster, Health
from gateway.domain.node_state import NodeRun, NodeStep

_Pick = tuple[int, int, int, str, str]  # see admission_book
_BYTE = attrgetter("admission_byte")
# Stands for a member without a run: not waiting, not occupying, neither canary nor held.
_NO_RUN = NodeRun("", NodeStep.DONE)


def _table(test: Callable[[NodeStep, bool, bool], bool]) -> bytes:
    """A bytes.translate table from a run's admission_byte (its step's place times 4,
    plus 2 when canary, plus 1 when held) to 1 where ``test(step, canary, held)``."""
    return bytes(test(step, bool(code & 2), bool(code & 1))
                 for step in NodeStep for code in range(4)).ljust(256, b"\0")


_OCCUPYING_TABLE = _table(lambda step, canary, held: id(step) in _OCCUPYING_IDS)


def _waiting_tables(waits: NodeStep) -> tuple[bytes, bytes, bytes]:
    """For runs waiting in ``waits`` (PENDING, or STAGED for staged activation): waiting;
    waiting and canary; waiting, neither canary nor held (offered unless unavailable)."""
    return (_table(lambda step, canary, held: step is waits),
            _table(lambda step, canary, held: step is waits and canary),
            _table(lambda step, canary, held: step is waits and not canary and not held))


_WAITING_TABLES = {waits: _waiting_tables(waits) for waits in NodeStep}
_V = TypeVar("_V")
# One `find` round per member a group has room for; past this many rounds the groups
# still wanting more (large allowances) are finished one by one.
ROUNDS = 8


@dataclass
class Count:
    """Per group (Counters: only groups above 0) members unavailable now and runs
    waiting; the unavailable members (``out``: one byte per member in layout order, 1
    when unavailable: a set of names cost a tenth of a recount); the waiting canary
    runs; and for the walk, the
    waiting runs that are not canary, not held and not unavailable (``free``, one
    byte per member in layout order) and the same per-group counts in layout order."""

    unavailable: Counter[str]
    pending: Counter[str]
    out: bytearray
    canaries: dict[str, NodeRun]
    free: bytes
    taken: list[int]
    waiting: list[int]


@dataclass
class Facts:
    """What a count reads, one byte per member in layout order, kept by a book between
    ticks and patched where something changed (``patch``): each run's admission_byte
    (``codes``), whether the member is not observed UP (``down``) and whether another
    campaign holds it (``busy``)."""

    codes: bytearray
    down: bytearray
    busy: bytearray


def facts(cluster: Cluster, runs: Mapping[str, NodeRun], health: Mapping[str, Health],
          busy: frozenset[str]) -> Facts:
    """Every member's facts. Read in node id order (the order runs and health come in:
    fast) and rearranged into layout order in one C call each."""
    layout = cluster.layout()
    ids, size = layout.ids, len(layout.ids)
    found = layout.to_layout(_in_order(runs, ids, _NO_RUN))
    readings = _in_order(health, ids, None)
    # Every member UP (most ticks) needs no rearranging: counted in id order.
    down = (bytearray(size) if readings.count(Health.UP) == size  # (identity first: C)
            else bytearray(map(is_not, layout.to_layout(readings), repeat(Health.UP))))
    return Facts(codes=bytearray(map(_BYTE, found)), down=down,
                 busy=bytearray(map(busy.__contains__, layout.nodes)) if busy
                 else bytearray(size))


def patch(cluster: Cluster, kept: Facts, runs: Mapping[str, NodeRun],
          health: Mapping[str, Health], busy: frozenset[str], moved: Iterable[str],
          readings: Iterable[str], held: Iterable[str], *,
          moved_in_order: list[bool] | None = None) -> None:
    """Bring ``kept`` to this tick's runs, health and busy nodes: ``moved`` are the nodes
    whose run changed, ``readings`` those whose health changed, ``held`` those whose
    business changed (nodes outside the cluster are ignored). ``moved_in_order``: when
    ``runs`` lists exactly the layout's ``ids`` in that order, which of them moved, so
    that moved runs and their places are read side by side rather than looked up.
    Values are gathered in C passes; only the stores into the byte arrays are a loop."""
    layout = cluster.layout()
    position = layout.position
    if moved_in_order is not None:
        places = map(layout.id_places.__getitem__,
                     compress(range(len(moved_in_order)), moved_in_order))
        for place, byte in zip(places, map(_BYTE, compress(runs.values(), moved_in_order)),
                               strict=True):
            kept.codes[place] = byte
        moved = ()
    for changed, into, value in (
            (moved, kept.codes, lambda nodes: map(_BYTE, map(runs.get, nodes, repeat(_NO_RUN)))),
            (readings, kept.down, lambda nodes: map(is_not, map(health.get, nodes),
                                                     repeat(Health.UP))),
            (held, kept.busy, lambda nodes: map(busy.__contains__, nodes))):
        nodes = list(filter(position.__contains__, changed))
        for place, byte in zip(map(position.__getitem__, nodes), value(nodes), strict=True):
            into[place] = byte


def count(cluster: Cluster, runs: Mapping[str, NodeRun], known: Facts,
          waits: NodeStep) -> Count:
    """Count every member of ``cluster`` from its ``known`` facts, as admission._tally
    does (runs of nodes not in the cluster are not counted); ``runs`` only to name the
    waiting canaries' runs."""
    layout = cluster.layout()
    nodes, size, codes = layout.nodes, len(layout.ids), known.codes
    waiting_table, canary_table, free_table = _WAITING_TABLES[waits]
    waiting_here = codes.translate(waiting_table)
    out = (int.from_bytes(codes.translate(_OCCUPYING_TABLE), "big")
           | int.from_bytes(known.down, "big") | int.from_bytes(known.busy, "big"))
    out_here = out.to_bytes(size, "big")
    starts, ends, groups = layout.starts, layout.ends, layout.groups
    taken = list(map(out_here.count, repeat(1), starts, ends))
    per_group = list(map(waiting_here.count, repeat(1), starts, ends))
    return Count(
        unavailable=Counter(dict(compress(zip(groups, taken, strict=True), taken))),
        pending=Counter(dict(compress(zip(groups, per_group, strict=True), per_group))),
        out=bytearray(out_here),
        canaries={node: runs[node] for node in compress(nodes, codes.translate(canary_table))},
        free=(int.from_bytes(codes.translate(free_table), "big") & ~out).to_bytes(size, "big"),
        taken=taken, waiting=per_group)


def _in_order(mapping: Mapping[str, _V], ids: tuple[str, ...], default: _V) -> list[_V]:
    """``mapping``'s values for ``ids``: read in the mapping's own order when its keys
    are exactly ``ids`` in that order (as the store lists them), else looked up."""
    if len(mapping) == len(ids) and tuple(mapping) == ids:
        return list(mapping.values())
    return list(map(mapping.get, ids, repeat(default)))


def offer(cluster: Cluster, counted: Count, room: Mapping[str, int],
          fits: Mapping[str, bool]) -> tuple[list[_Pick], list[str]]:
    """What every group offers now (the gate open): its free members in update order
    whose window holds the update, as many as its room holds (``room``: a group's room
    after its canaries, for groups with one; else its allowance less its unavailable).
    Returns the picks and, pick by pick, its group."""
    layout = cluster.layout()
    free = counted.free
    if not all(fits.values()):
        table = bytearray(256)
        table[:len(fits)] = bytes(fits.values())  # in qos_classes order, as codes are
        free = (int.from_bytes(free, "big")
                & int.from_bytes(layout.qos_codes.translate(table), "big")
                ).to_bytes(len(free), "big")
    left = list(map(sub, layout.allowances, counted.taken))
    for group, rest in room.items():
        left[layout.index[group]] = rest
    wanting = list(compress(range(len(left)), map(gt, left, repeat(0))))
    at = list(map(layout.starts.__getitem__, wanting))
    ends = list(map(layout.ends.__getitem__, wanting))
    need = list(map(left.__getitem__, wanting))
    positions: list[int] = []
    owners: list[int] = []  # the group (its place) of each position
    rounds = 0
    while wanting and rounds < ROUNDS:
        hits = list(map(free.find, repeat(1), at, ends))
        if -1 in hits:  # groups with nothing more to offer drop out
            hit = list(map(ge, hits, repeat(0)))
            hits, wanting = list(compress(hits, hit)), list(compress(wanting, hit))
            need, ends = list(compress(need, hit)), list(compress(ends, hit))
        positions += hits
        owners += wanting
        need = list(map(sub, need, repeat(1)))
        at = list(map(add, hits, repeat(1)))
        if 0 in need:  # and those whose room is full
            more = list(map(gt, need, repeat(0)))
            wanting, need = list(compress(wanting, more)), list(compress(need, more))
            ends, at = list(compress(ends, more)), list(compress(at, more))
        rounds += 1
    for place, begin, end, wanted in zip(wanting, at, ends, need, strict=True):
        more_here = list(islice(compress(range(begin, end), free[begin:end]), wanted))
        positions += more_here
        owners += repeat(place, len(more_here))
    # -ceil(waiting / allowance): the waves a group has left (admission._priority).
    waves = list(map(floordiv, map(neg, counted.waiting), layout.divisors))
    names = list(map(layout.groups.__getitem__, owners))
    picked = list(map(layout.nodes.__getitem__, positions))
    return list(zip(repeat(1), map(layout.qos_orders.__getitem__, positions),
                    map(waves.__getitem__, owners), names, picked)), names
