"""The campaign planner: canaries first, then the fewest waves the redundancy allows.

Pure and deterministic: the same input always gives the same plan (every
choice is ordered by sorted keys, never by set or dict iteration order).

Rules (docs/orchestration.md has the reasoning):

* Only nodes whose applicability is UPDATE are ever scheduled; the others are
  reported with an Exclusion and never touched.
* A group's *effective allowance* is its allowance minus the members not
  observed UP at planning time. No wave puts more of a group's nodes in
  flight than that. Waves follow each other (a wave starts when the previous
  one's slot has ended), so at any instant at most one wave is in flight.
* Canary phase: for each model not already verified, one canary, chosen among
  the schedulable nodes of that model preferring a group with room left in
  the first canary wave, a node whose window is open, the lowest QoS order,
  then the smallest id. Canary waves come before every other wave.
* Main waves are filled greedily: nodes ordered by QoS order (lower first),
  then by how many waves their group still needs (most first), then group
  name and node id; a node joins the wave when its group has room, the
  concurrency cap is not reached, and its maintenance windows hold the whole
  slot. Without windows or cap every group fills its effective allowance in
  every wave, so the number of main waves is exactly the lower bound
  max over groups of ceil(nodes to update / effective allowance).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from math import ceil

from gateway.domain.cluster import Cluster, Health, down_per_group
from gateway.domain.errors import PlanningError
from gateway.domain.node_state import NodeRun, NodeStep
from gateway.domain.windows import as_utc


class Applicability(StrEnum):
    """What the image means for one node (computed with firmware_payloads)."""

    UPDATE = "update"
    UP_TO_DATE = "up_to_date"
    NOT_APPLICABLE = "not_applicable"


class Exclusion(StrEnum):
    """Why a node of the cluster is in no wave of the plan."""

    NO_INVENTORY = "no_inventory"          # never inventoried: nothing is known, nothing done
    NOT_APPLICABLE = "not_applicable"      # the image does not fit the node's model
    UP_TO_DATE = "up_to_date"              # already at or above the image's versions
    MANUAL_ONLY = "manual_only"            # QoS class says an operator must release it
    UNAVAILABLE = "unavailable"            # not UP now; started later once it is UP again
    GROUP_BLOCKED = "group_blocked"        # members down use the allowance; waits for room
    NO_ALLOWANCE = "no_allowance"          # its group allows no member to be unavailable
    NO_WINDOW = "no_window"                # no maintenance window can hold one update
    NO_CANARY = "no_canary"                # its model has no node that could be a canary now


# Exclusions whose nodes stay PENDING: the executor may still start them later.
WAITING_EXCLUSIONS: frozenset[Exclusion] = frozenset(
    {Exclusion.UNAVAILABLE, Exclusion.GROUP_BLOCKED, Exclusion.MANUAL_ONLY}
)


@dataclass(frozen=True)
class NodeTarget:
    """A node's discovered model and what the image means for it.

    ``packages``: ids to apply, in order. ``expected``: (component, version)
    pairs VERIFY must find afterwards. ``resets``: "host"/"bmc" restarts the
    packages need. ``reason``: why the node is up to date or not applicable.
    """

    model: str
    applicability: Applicability
    packages: tuple[str, ...] = ()
    expected: tuple[tuple[str, str], ...] = ()
    resets: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class Wave:
    """Nodes started together at ``starts_at``; the wave's slot lasts the planner's ``slot``."""

    index: int
    starts_at: datetime
    node_ids: tuple[str, ...]
    canary: bool


@dataclass(frozen=True)
class Plan:
    """The planner's answer. ``lower_bound`` is for the main (non-canary) waves."""

    cluster: str
    canaries: tuple[str, ...]
    waves: tuple[Wave, ...]
    excluded: Mapping[str, Exclusion]
    lower_bound: int
    models: Mapping[str, str] = field(default_factory=dict)

    @property
    def canary_waves(self) -> tuple[Wave, ...]:
        return tuple(w for w in self.waves if w.canary)

    @property
    def main_waves(self) -> tuple[Wave, ...]:
        return tuple(w for w in self.waves if not w.canary)

    def wave_of(self, node_id: str) -> Wave | None:
        return next((w for w in self.waves if node_id in w.node_ids), None)

    def initial_runs(self) -> dict[str, NodeRun]:
        """The NodeRun of every node the campaign will track, ready to persist.

        Scheduled and waiting nodes are PENDING (manual-only ones held), the
        image's misfits NOT_APPLICABLE, the rest SKIPPED with the reason.
        Nodes without inventory get no run: nothing is known about them.
        """
        canaries = set(self.canaries)
        runs = {
            node: NodeRun(node, NodeStep.PENDING, canary=node in canaries)
            for wave in self.waves for node in wave.node_ids
        }
        for node, why in sorted(self.excluded.items()):
            if why is Exclusion.NO_INVENTORY:
                continue
            if why in WAITING_EXCLUSIONS:
                runs[node] = NodeRun(node, held=why is Exclusion.MANUAL_ONLY)
            elif why is Exclusion.NOT_APPLICABLE:
                runs[node] = NodeRun(node, NodeStep.NOT_APPLICABLE, error=why.value)
            else:
                runs[node] = NodeRun(node, NodeStep.SKIPPED, error=why.value)
        return dict(sorted(runs.items()))


@dataclass(frozen=True)
class _Context:
    cluster: Cluster
    slot: timedelta
    cap: int | None
    room: Mapping[str, int]  # effective allowance per group


def lower_bound(cluster: Cluster, node_ids: Iterable[str], room: Mapping[str, int]) -> int:
    """max over groups of ceil(nodes in group / effective allowance); 0 for no nodes."""
    per_group = Counter(cluster.group_of(n) for n in node_ids)
    return max((ceil(count / room[g]) for g, count in per_group.items()), default=0)


def plan_campaign(
    cluster: Cluster,
    targets: Mapping[str, NodeTarget],
    health: Mapping[str, Health],
    *,
    start: datetime,
    slot: timedelta,
    max_concurrent: int | None = None,
    verified_models: Iterable[str] = (),
) -> Plan:
    """Plan one image's rollout on ``cluster``.

    ``targets``: node id → model and applicability (nodes missing here are
    reported NO_INVENTORY). ``health``: node id → last observed health
    (missing = UNKNOWN, which counts as unavailable). ``start``: aware datetime
    of the first wave. ``slot``: the expected duration of one node's update
    (> 0), used for windows and wave start times. ``max_concurrent``: the
    gateway-wide cap (the cluster's own cap also applies). ``verified_models``:
    models whose canary already passed for this image (no canary needed).
    Raises PlanningError for targets naming unknown nodes or a bad slot/cap.
    """
    unknown = sorted(n for n in targets if not cluster.has_node(n))
    if unknown:
        raise PlanningError(f"targets name nodes not in cluster {cluster.name!r}: {unknown}")
    if slot <= timedelta(0):
        raise PlanningError(f"slot must be a positive duration, got {slot}")
    if max_concurrent is not None and max_concurrent < 1:
        raise PlanningError(f"max_concurrent must be ≥ 1, got {max_concurrent}")
    start = as_utc(start)
    caps = [c for c in (max_concurrent, cluster.max_concurrent) if c is not None]
    down = down_per_group(cluster, health)
    room = {g: cluster.allowance(g) - down[g] for g in cluster.group_names()}
    ctx = _Context(cluster, slot, min(caps) if caps else None, room)

    excluded, schedulable = _classify(ctx, targets, health, start)
    models = {n: targets[n].model for n in targets}
    canaries = _choose_canaries(ctx, schedulable, models, set(verified_models), start)
    canary_models = {models[n] for n in canaries} | set(verified_models)
    # A model with no canary must not be rolled out unproven: its waiting nodes are skipped.
    for node, why in list(excluded.items()):
        if why in WAITING_EXCLUSIONS - {Exclusion.MANUAL_ONLY} and (
            models[node] not in canary_models
        ):
            excluded[node] = Exclusion.NO_CANARY
    canary_set = set(canaries)
    main = [n for n in schedulable if n not in canary_set]

    canary_slots = _build_waves(ctx, canaries, start)
    after_canaries = canary_slots[-1][0] + slot if canary_slots else start
    main_slots = _build_waves(ctx, main, after_canaries)
    waves = [
        Wave(i, at, ids, canary=i < len(canary_slots))
        for i, (at, ids) in enumerate([*canary_slots, *main_slots])
    ]
    return Plan(
        cluster=cluster.name,
        canaries=tuple(canaries),
        waves=tuple(waves),
        excluded=dict(sorted(excluded.items())),
        lower_bound=lower_bound(cluster, main, room),
        models=dict(sorted(models.items())),
    )


def _classify(
    ctx: _Context, targets: Mapping[str, NodeTarget], health: Mapping[str, Health],
    start: datetime,
) -> tuple[dict[str, Exclusion], list[str]]:
    """Split the cluster's nodes into excluded (with the reason) and schedulable (sorted)."""
    excluded: dict[str, Exclusion] = {}
    schedulable: list[str] = []
    for node in ctx.cluster.node_ids():
        target = targets.get(node)
        qos = ctx.cluster.qos_of(node)
        if target is None:
            excluded[node] = Exclusion.NO_INVENTORY
        elif target.applicability is Applicability.NOT_APPLICABLE:
            excluded[node] = Exclusion.NOT_APPLICABLE
        elif target.applicability is Applicability.UP_TO_DATE:
            excluded[node] = Exclusion.UP_TO_DATE
        elif qos.manual_only:
            excluded[node] = Exclusion.MANUAL_ONLY
        elif ctx.cluster.allowance(ctx.cluster.group_of(node)) == 0:
            excluded[node] = Exclusion.NO_ALLOWANCE
        elif qos.next_allowed(start, ctx.slot) is None:
            excluded[node] = Exclusion.NO_WINDOW
        elif health.get(node, Health.UNKNOWN) is not Health.UP:
            excluded[node] = Exclusion.UNAVAILABLE
        elif ctx.room[ctx.cluster.group_of(node)] <= 0:
            excluded[node] = Exclusion.GROUP_BLOCKED
        else:
            schedulable.append(node)
    return excluded, schedulable


def _choose_canaries(
    ctx: _Context, schedulable: list[str], models: Mapping[str, str],
    verified: set[str], start: datetime,
) -> list[str]:
    """One canary per unverified model, sorted by node id (see module docstring)."""
    by_model: dict[str, list[str]] = {}
    for node in schedulable:
        by_model.setdefault(models[node], []).append(node)
    used: Counter[str] = Counter()
    chosen: list[str] = []
    for model in sorted(set(by_model) - verified):
        def preference(node: str) -> tuple[int, int, int, str]:
            group = ctx.cluster.group_of(node)
            qos = ctx.cluster.qos_of(node)
            return (
                0 if used[group] < ctx.room[group] else 1,
                0 if qos.allows(start, ctx.slot) else 1,
                qos.order,
                node,
            )

        pick = min(by_model[model], key=preference)
        used[ctx.cluster.group_of(pick)] += 1
        chosen.append(pick)
    return sorted(chosen)


def _build_waves(
    ctx: _Context, nodes: list[str], begin: datetime
) -> list[tuple[datetime, tuple[str, ...]]]:
    """Greedy waves for ``nodes`` from ``begin``; every node must fit some window.

    Without a concurrency cap the groups do not compete, so each wave takes, group by
    group, the first members in update order (QoS order, then id) that fit the moment:
    the same waves `_greedy_waves` builds, without sorting every remaining node for
    every wave (100,000 nodes plan in about a second: bench/planner.py)."""
    if ctx.cap is not None:
        return _greedy_waves(ctx, nodes, begin)
    cluster = ctx.cluster
    by_group: dict[str, list[str]] = {}
    for node in nodes:
        by_group.setdefault(cluster.group_of(node), []).append(node)
    for members in by_group.values():
        members.sort(key=lambda n: (cluster.qos_of(n).order, n))
    waves: list[tuple[datetime, tuple[str, ...]]] = []
    moment = begin
    while by_group:
        fits: dict[str, bool] = {}  # QoS class -> an update fits at `moment`
        chosen: list[str] = []
        for group in list(by_group):
            members, room, taken = by_group[group], ctx.room[group], []
            for node in members:
                qos = cluster.qos_of(node)
                if qos.name not in fits:
                    fits[qos.name] = qos.allows(moment, ctx.slot)
                if fits[qos.name]:
                    taken.append(node)
                    if len(taken) == room:
                        break
            if taken:
                gone = set(taken)
                by_group[group] = [n for n in members if n not in gone]
                if not by_group[group]:
                    del by_group[group]
                chosen += taken
        if chosen:
            waves.append((moment, tuple(sorted(chosen))))
            moment += ctx.slot
            continue
        classes = {cluster.qos_of(n).name: cluster.qos_of(n)
                   for members in by_group.values() for n in members}
        openings = [qos.next_allowed(moment, ctx.slot) for qos in classes.values()]
        moment = min(at for at in openings if at is not None)
    return waves


def _greedy_waves(
    ctx: _Context, nodes: list[str], begin: datetime
) -> list[tuple[datetime, tuple[str, ...]]]:
    """Waves by one global priority order: what a concurrency cap needs."""
    cluster = ctx.cluster
    remaining = set(nodes)
    waves: list[tuple[datetime, tuple[str, ...]]] = []
    moment = begin
    while remaining:
        left = Counter(cluster.group_of(n) for n in remaining)

        def priority(node: str, left: Counter[str] = left) -> tuple[int, int, str, str]:
            group = cluster.group_of(node)
            return (cluster.qos_of(node).order, -ceil(left[group] / ctx.room[group]), group, node)

        used: Counter[str] = Counter()
        chosen: list[str] = []
        for node in sorted(remaining, key=priority):
            if ctx.cap is not None and len(chosen) >= ctx.cap:
                break
            group = cluster.group_of(node)
            if used[group] < ctx.room[group] and cluster.qos_of(node).allows(moment, ctx.slot):
                chosen.append(node)
                used[group] += 1
        if chosen:
            waves.append((moment, tuple(sorted(chosen))))
            remaining.difference_update(chosen)
            moment += ctx.slot
            continue
        # Nothing may start now (all windows closed): jump to the next opening.
        openings = [cluster.qos_of(n).next_allowed(moment, ctx.slot) for n in remaining]
        moment = min(at for at in openings if at is not None)
    return waves


def plan_waves(
    cluster: Cluster,
    canaries: Iterable[str],
    others: Iterable[str],
    health: Mapping[str, Health],
    *,
    start: datetime,
    slot: timedelta,
    max_concurrent: int | None = None,
) -> tuple[Wave, ...]:
    """Waves for the nodes a running campaign still has to start, by the rules of
    ``plan_campaign``: `canaries` first, then `others`, from `start`, one wave per
    ``slot``. Nodes not observed UP, whose group has no room, or whose windows never
    hold a slot are left out (a later plan takes them). Used to book one cluster-manager
    reservation per wave (docs/cluster-managers.md)."""
    start = as_utc(start)
    caps = [c for c in (max_concurrent, cluster.max_concurrent) if c is not None]
    down = down_per_group(cluster, health)
    room = {g: cluster.allowance(g) - down[g] for g in cluster.group_names()}
    ctx = _Context(cluster, slot, min(caps) if caps else None, room)

    def plannable(nodes: Iterable[str]) -> list[str]:
        return sorted(n for n in nodes if health.get(n, Health.UNKNOWN) is Health.UP
                      and room[cluster.group_of(n)] > 0
                      and cluster.qos_of(n).next_allowed(start, slot) is not None)

    canary_slots = _build_waves(ctx, plannable(canaries), start)
    after_canaries = canary_slots[-1][0] + slot if canary_slots else start
    main_slots = _build_waves(ctx, plannable(others), after_canaries)
    return tuple(Wave(i, at, ids, canary=i < len(canary_slots))
                 for i, (at, ids) in enumerate([*canary_slots, *main_slots]))
