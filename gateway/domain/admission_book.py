"""Admission kept across ticks: per-group counts updated from what changed.

``startable_now`` answers from nothing every time: a few flat passes over every
node. The scheduler instead keeps one ``AdmissionBook`` per campaign and hands it
each tick's runs and health. The book finds what changed since the last tick by
identity (the scheduler reuses the NodeRun of a row that did not change, and Health
members are singletons), moves only those nodes in its per-group counts, and walks
again only the groups they belong to. A group nothing touched keeps the nodes it
offered last time. Everything a group's choice depends on outside the group (the
canary gate, which maintenance windows hold an update at ``now``) is part of the
*context*; when it changes, every group with waiting nodes is walked again.

The answer is the one ``_decide`` gives (the rule written out node by node) for the
runs and health of this tick, whatever happened before: the property tests replay
random sequences of ticks against it.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from itertools import chain, compress, repeat
from math import ceil
from operator import is_not, itemgetter, not_
from typing import TypeVar

from gateway.domain.admission import (
    _OCCUPYING,
    Admission,
    _decide,
    _LazyReasons,
    _room,
    _to_stage,
)
from gateway.domain.admission_flat import Count, Facts, count, facts, offer, patch
from gateway.domain.campaign_state import Campaign, CampaignState, canary_gate_open
from gateway.domain.cluster import Cluster, Health
from gateway.domain.node_state import ACTIVE_STEPS, NodeRun, NodeStep
from gateway.domain.windows import as_utc

_Key = tuple[int, int, int, str, str]  # see admission._priority
_Pick = _Key  # unique: it ends with the node
_RECOUNT_AT = 1000
_NODE = itemgetter(4)
_V = TypeVar("_V")


class AdmissionBook:
    """What may start in one campaign of ``cluster``, kept up to date tick by tick.

    ``staged``: the campaign uses staged activation (STAGED nodes wait for their
    reset rather than PENDING ones for their update). ``once``: the book answers one
    tick only (startable_now), so it need not copy what it was given."""

    def __init__(self, cluster: Cluster, *, staged: bool = False, once: bool = False) -> None:
        self.cluster = cluster
        self.staged = staged
        self._once = once  # answers one tick only: keeps the caller's mappings, no copies
        self._waits = NodeStep.STAGED if staged else NodeStep.PENDING
        self._fresh = True  # nothing counted yet: the first tick counts everything
        self._runs: dict[str, NodeRun] = {}
        self._health: dict[str, Health] = {}
        self._busy: frozenset[str] = frozenset()
        self._out = bytearray()  # members unavailable now: 1 at their place in the layout
        self._unavailable: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()  # waiting runs per group
        self._canaries: dict[str, NodeRun] = {}  # waiting runs flagged canary
        self._active: int | None = None  # runs in ACTIVE_STEPS, counted when a cap needs it
        # What every group offered at the last whole-fleet walk (admission_flat), and the
        # group of each pick; a group walked since then offers what _picks says instead.
        self._base: list[_Pick] = []
        self._base_groups: list[str] = []
        self._picks: dict[str, list[_Pick]] = {}  # group -> what it offered last walk
        self._dirty: dict[str, None] = {}  # groups to walk again, in a stable order
        self._context: tuple[bool, tuple[bool, ...]] | None = None
        self._count: Count | None = None  # a recount not walked yet: walk it flat
        # Every member's run, health and business as bytes (admission_flat.Facts), patched
        # each tick where they changed, so counting anew after a large batch is a few C
        # passes over them rather than reading every run again.
        self._facts: Facts | None = None
        self._in_ids_order = False  # the runs' keys are the layout's ids, in that order

    def decide(self, campaign: Campaign, runs: Mapping[str, NodeRun],
               health: Mapping[str, Health], *, now: datetime, expected_duration: timedelta,
               in_flight_elsewhere: int = 0, global_cap: int | None = None,
               busy_elsewhere: frozenset[str] = frozenset()) -> Admission:
        """``startable_now`` for this tick's ``runs`` and ``health`` (see there)."""
        now = as_utc(now)
        cluster, staged = self.cluster, self.staged
        arguments = (cluster, campaign, runs, health, now, expected_duration,
                     in_flight_elsewhere, global_cap, busy_elsewhere, staged)
        waiting = _LazyReasons(lambda: _decide(*arguments)[1])
        if campaign.state is not CampaignState.RUNNING:
            return Admission((), waiting)
        gate_open = canary_gate_open(campaign, runs)
        stage = _to_stage(runs, health, busy_elsewhere, gate_open) if staged else ()
        self._sync(runs, health, busy_elsewhere)
        limit: int | None = None
        if cluster.max_concurrent is not None or global_cap is not None:
            if self._active is None:
                self._active = sum(1 for r in runs.values() if r.step in ACTIVE_STEPS)
            caps = [room for room in (_room(cluster.max_concurrent, self._active),
                                      _room(global_cap, self._active + in_flight_elsewhere))
                    if room is not None]
            limit = max(0, min(caps))
            if limit == 0:
                return Admission((), waiting, stage)
        fits = {q.name: q.allows(now, expected_duration) for q in cluster.qos_classes}
        context = (gate_open, tuple(fits.values()))
        if context != self._context:
            self._dirty.update(dict.fromkeys(self._pending))
            self._context = context
        # Canaries come first in their group (and pass a closed gate); a group with one
        # waiting is walked every tick, since what its canary takes changes its room.
        room: dict[str, int] = {}
        keyed: list[_Pick] = []
        up, health_get, busy = Health.UP, health.get, busy_elsewhere
        for run in sorted(self._canaries.values(),
                          key=lambda r: (cluster.qos_of(r.node_id).order, r.node_id)):
            node = run.node_id
            group, qos = cluster.group_of(node), cluster.qos_of(node)
            self._dirty[group] = None
            allowance = cluster.allowance(group)
            left = room.setdefault(group, allowance - self._unavailable[group])
            if (left > 0 and not run.held and node not in busy
                    and health_get(node) is up and fits[qos.name]):
                waves_left = -ceil(self._pending[group] / max(allowance, 1))
                keyed.append((0, qos.order, waves_left, group, node))
                room[group] = left - 1
        if self._count is not None:  # counted anew: every group is walked, in C passes
            self._base, self._base_groups = (offer(cluster, self._count, room, fits)
                                             if gate_open else ([], []))
            self._picks.clear()
            self._count = None
        else:
            self._walk(self._dirty, room, gate_open, fits)
        self._dirty.clear()
        picks = self._picks
        keyed.extend(compress(self._base, map(not_, map(picks.__contains__,
                                                        self._base_groups)))
                     if picks else self._base)
        keyed.extend(chain.from_iterable(picks.values()))
        chosen = (sorted(keyed) if limit is None or limit >= len(keyed)
                  else heapq.nsmallest(limit, keyed))
        return Admission(tuple(map(_NODE, chosen)), waiting, stage)

    def _walk(self, groups: Iterable[str], room: Mapping[str, int], gate_open: bool,
              fits: Mapping[str, bool]) -> None:
        """What each of ``groups`` offers now: its waiting non-canary members in update
        order that may start, as many as its room (after its canaries) holds. One loop
        with everything in locals: at 100,000 nodes it runs for every group. A waiting
        member is out of the allowance's count exactly when it is not UP or busy
        elsewhere, so one set lookup answers both."""
        all_picks = self._picks
        # A group that offers nothing is kept as such while the last flat walk's picks
        # are still read (they would otherwise stand for it).
        keep_empty = bool(self._base)
        if not gate_open:
            for group in groups:
                if keep_empty:
                    all_picks[group] = []
                else:
                    all_picks.pop(group, None)
            return
        cluster, waits, out = self.cluster, self._waits, self._out
        place = cluster.layout().position
        runs_get = self._runs.get
        allowances, qos_map, in_order = (cluster.allowances(), cluster.qos_map(),
                                         cluster.order_map())
        all_fit = all(fits.values())
        groups = list(groups)
        # Per group lookups as C passes (and .get: a Counter's missing key is a Python call).
        for group, allowance, taken, waiting, members in zip(
                groups, map(allowances.__getitem__, groups),
                map(self._unavailable.get, groups, repeat(0)),
                map(self._pending.get, groups, repeat(0)),
                map(in_order.__getitem__, groups),
                strict=True):
            left = room.get(group) if room else None
            if left is None:
                left = allowance - taken
            if left <= 0 or waiting <= 0:
                if keep_empty:
                    all_picks[group] = []
                else:
                    all_picks.pop(group, None)
                continue
            waves_left = -waiting // allowance if allowance > 1 else -waiting  # -ceil(w/a)
            picks: list[_Pick] = []
            for node in members:
                found = runs_get(node)
                if (found is None or found.step is not waits or found.canary or found.held
                        or out[place[node]]):
                    continue
                qos = qos_map[node]
                if all_fit or fits[qos.name]:
                    picks.append((1, qos.order, waves_left, group, node))
                    left -= 1
                    if left == 0:
                        break
            if picks or keep_empty:
                all_picks[group] = picks
            else:
                all_picks.pop(group, None)

    def _sync(self, runs: Mapping[str, NodeRun], health: Mapping[str, Health],
              busy: frozenset[str]) -> None:
        """Bring the counts to this tick's runs, health and busy nodes."""
        self._count = None  # counted but not walked (no room under the caps): walk as dirty
        if self._fresh:
            self._recount(runs, health, busy)
            return
        side_by_side: list[bool] = []
        before = _follow(self._runs, runs, side_by_side)
        if not side_by_side or len(side_by_side) != len(runs):  # not side by side
            self._in_ids_order = tuple(runs) == self.cluster.layout().ids
        readings = _follow(self._health, health)
        held = busy ^ self._busy
        self._busy = busy
        if self._facts is not None:
            patch(self.cluster, self._facts, runs, health, busy, before, readings, held,
                  # (side_by_side is filled only when the keys were the same as before)
                  moved_in_order=side_by_side if side_by_side and self._in_ids_order
                  else None)
        # Moving a node costs several times what a flat pass costs per node: when a fair
        # share moved, counting anew from the patched facts is cheaper (small clusters
        # always move node by node). Judged by the sum of the three (a node in two counts
        # twice, one outside the cluster too), which spares a large batch building the
        # set below only to learn its size; either way the answer is the same.
        moved, size = len(before) + len(readings) + len(held), len(self.cluster.node_set())
        if moved > _RECOUNT_AT and moved * 16 > size:
            self._recount(runs, health, busy, kept=True)
            return
        changed = set(before)
        changed.update(readings)
        changed.update(held)
        changed &= self.cluster.node_set()
        for node in sorted(changed):
            # A node moved only by its health or business keeps its run: its run before
            # is the one it has now (not None, which would count it as newly added).
            run = runs.get(node)
            self._move(node, before.get(node, run), run)

    def _move(self, node: str, before: NodeRun | None, run: NodeRun | None) -> None:
        """Count ``node`` again after its run, health or business changed."""
        group = self.cluster.group_of(node)
        out = ((run is not None and run.step in _OCCUPYING) or node in self._busy
               or self._health.get(node) is not Health.UP)
        place = self.cluster.layout().position[node]
        if out != self._out[place]:
            self._out[place] = out
            self._unavailable[group] += 1 if out else -1
        waits = self._waits
        self._pending[group] += ((run is not None and run.step is waits)
                                 - (before is not None and before.step is waits))
        if run is not None and run.step is waits and run.canary:
            self._canaries[node] = run
        else:
            self._canaries.pop(node, None)
        if self._active is not None:
            self._active += ((run is not None and run.step in ACTIVE_STEPS)
                             - (before is not None and before.step in ACTIVE_STEPS))
        self._dirty[group] = None

    def _recount(self, runs: Mapping[str, NodeRun], health: Mapping[str, Health],
                 busy: frozenset[str], *, kept: bool = False) -> None:
        """Count every node in C passes (admission_flat.count); the next walk is then a
        flat one over every group. ``kept``: the book's own runs and health already
        equal these (``_follow`` made them so) and its facts were patched to them."""
        self._fresh = False
        if not kept:
            copy = (lambda mapping: mapping) if self._once else dict
            self._runs, self._health = copy(runs), copy(health)
        self._busy = busy
        if not kept or self._facts is None:
            self._facts = facts(self.cluster, runs, health, busy)
        if not kept and not self._once:
            self._in_ids_order = tuple(runs) == self.cluster.layout().ids
        counted = self._count = count(self.cluster, runs, self._facts, self._waits)
        self._unavailable, self._pending = counted.unavailable, counted.pending
        self._out, self._canaries = counted.out, counted.canaries
        self._active = None
        self._picks.clear()
        self._base, self._base_groups = [], []
        self._dirty = dict.fromkeys(counted.pending)
        self._context = None


def _follow(kept: dict[str, _V], now: Mapping[str, _V],
            side_by_side: list[bool] | None = None) -> dict[str, _V | None]:
    """Make ``kept`` equal to ``now``; return the keys whose value is not the same object
    (changed, added or removed) with their value before. Runs in C (compress over map)
    but for what changed. The store lists rows in the same order every tick: with the
    same keys in the same order, the values are compared side by side (looking each
    key up costs ~5x more at 100,000 nodes), and ``side_by_side`` (if given) receives
    which of them changed, key by key."""
    keys = tuple(now)
    if len(keys) == len(kept) and keys == tuple(kept):
        if not any(map(is_not, now.values(), kept.values())):
            # Nothing changed (health, most ticks): one C pass, stopping at the first
            # difference, without building the lists below.
            if side_by_side is not None:
                side_by_side.extend(repeat(False, len(keys)))
            return {}
        differ = list(map(is_not, now.values(), kept.values()))
        if side_by_side is not None:
            side_by_side.extend(differ)
        keys = tuple(compress(keys, differ))
        before: dict[str, _V | None] = dict(zip(keys, compress(kept.values(), differ),
                                                strict=True))
        kept.update(zip(keys, compress(now.values(), differ), strict=True))
        return before
    keys = tuple(compress(keys, map(is_not, now.values(), map(kept.get, keys))))
    before = dict(zip(keys, map(kept.get, keys), strict=True))
    kept.update(zip(keys, map(now.__getitem__, keys), strict=True))
    if len(kept) != len(now):
        for key in kept.keys() - now.keys():
            before[key] = kept.pop(key)
    return before


def startable_now(
    cluster: Cluster,
    campaign: Campaign,
    runs: Mapping[str, NodeRun],
    health: Mapping[str, Health],
    *,
    now: datetime,
    expected_duration: timedelta,
    in_flight_elsewhere: int = 0,
    global_cap: int | None = None,
    busy_elsewhere: frozenset[str] = frozenset(),
    staged: bool = False,
) -> Admission:
    """Which PENDING nodes of ``campaign`` may start at ``now``.

    ``runs``: this campaign's node runs; ``health``: last observed health of
    every node of the cluster (missing = UNKNOWN = unavailable).
    ``expected_duration``: how long one node's update takes, so it also ends
    inside the node's maintenance window. ``in_flight_elsewhere``: nodes being
    updated by other campaigns anywhere (for ``global_cap``);
    ``busy_elsewhere``: nodes of this cluster held by other campaigns.
    A node starts only if the campaign is RUNNING, the node is not held and is
    observed UP, every canary has verified (unless it is a canary itself), its
    window holds the update, and starting it keeps its group within the
    allowance and both caps respected — counting nodes already down or busy.

    The answer is the one `_decide` gives (the rule written out node by node), found
    with one pass over the nodes plus, per group with room, only as many members as
    it takes to fill the room (bench/planner.py). Why the others wait is worked out
    only when `waiting` is read. A caller asking every tick keeps an AdmissionBook
    instead, which counts only what changed.

    ``staged`` (staged activation): a PENDING node is *staged* (``Admission.stage``)
    as soon as it is not held, is UP and the canary gate lets it; the disruptive
    part, its reset, is what the rules above admit: STAGED nodes are the ones
    ``start`` names, and ``expected_duration`` is then that part's length.
    """
    return AdmissionBook(cluster, staged=staged, once=True).decide(
        campaign, runs, health, now=now, expected_duration=expected_duration,
        in_flight_elsewhere=in_flight_elsewhere, global_cap=global_cap,
        busy_elsewhere=busy_elsewhere)
