"""What may start now: the online admission rule the executor fills slots with.

The precomputed plan is a forecast; the executor does not follow its waves
blindly. Whenever something changes (a node finished or failed, the gateway
restarted, a health probe answered) it asks ``startable_now`` which pending
nodes can start without breaking any group allowance, concurrency cap,
maintenance window or the canary gate, and starts exactly those. Because the
answer is computed from the persisted node states every time, the invariant
holds after crashes, failures and nodes going down on their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from math import ceil

from gateway.domain.campaign_state import Campaign, CampaignState, canary_gate_open
from gateway.domain.cluster import Cluster, Health
from gateway.domain.node_state import NodeRun, NodeStep, occupies_allowance
from gateway.domain.windows import as_utc


class WaitReason(StrEnum):
    """Why a pending node does not start now."""

    CAMPAIGN_NOT_RUNNING = "campaign_not_running"
    HELD_MANUAL = "held_manual"
    NODE_DOWN = "node_down"
    CANARY_GATE = "canary_gate"
    OUTSIDE_WINDOW = "outside_window"
    GROUP_FULL = "group_full"
    CLUSTER_CAP = "cluster_cap"
    GLOBAL_CAP = "global_cap"


@dataclass(frozen=True)
class Admission:
    """``start``: node ids to start now, in priority order. ``waiting``: why the others wait.
    ``stage``: (staged activation) pending node ids to stage now: handing over an image
    to apply at the next reset takes no host down, so only the canary gate holds them."""

    start: tuple[str, ...]
    waiting: Mapping[str, WaitReason]
    stage: tuple[str, ...] = ()


def unavailable_per_group(
    cluster: Cluster,
    runs: Mapping[str, NodeRun],
    health: Mapping[str, Health],
    busy_elsewhere: frozenset[str] = frozenset(),
) -> dict[str, int]:
    """Per group, members that count as unavailable right now.

    A member counts when its run (if any) occupies the allowance (active,
    failed, or not observed UP), when it has no run and is not observed UP,
    or when another campaign holds it (``busy_elsewhere``).
    """
    counts: dict[str, int] = {}
    for group in cluster.group_names():
        total = 0
        for node in cluster.members(group):
            observed = health.get(node, Health.UNKNOWN)
            run = runs.get(node)
            if node in busy_elsewhere or (
                occupies_allowance(run.step, observed) if run else observed is not Health.UP
            ):
                total += 1
        counts[group] = total
    return counts


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

    ``staged`` (staged activation): a PENDING node is *staged* (``Admission.stage``)
    as soon as it is not held, is UP and the canary gate lets it; the disruptive
    part, its reset, is what the rules above admit: STAGED nodes are the ones
    ``start`` names, and ``expected_duration`` is then that part's length.
    """
    now = as_utc(now)
    if staged:
        to_stage = [r for r in runs.values() if r.step is NodeStep.PENDING]
        pending = [r for r in runs.values() if r.step is NodeStep.STAGED]
    else:
        to_stage, pending = [], [r for r in runs.values() if r.step is NodeStep.PENDING]
    if campaign.state is not CampaignState.RUNNING:
        return Admission((), {r.node_id: WaitReason.CAMPAIGN_NOT_RUNNING
                              for r in (*pending, *to_stage)})
    unavailable = unavailable_per_group(cluster, runs, health, busy_elsewhere)
    active_here = sum(1 for r in runs.values() if r.active)
    cluster_room = _room(cluster.max_concurrent, active_here)
    global_room = _room(global_cap, active_here + in_flight_elsewhere)
    gate_open = canary_gate_open(campaign, runs)
    waiting_in_group = Counter(cluster.group_of(r.node_id) for r in pending)

    def priority(run: NodeRun) -> tuple[int, int, int, str, str]:
        group = cluster.group_of(run.node_id)
        allowance = max(cluster.allowance(group), 1)
        return (
            0 if run.canary else 1,
            cluster.qos_of(run.node_id).order,
            -ceil(waiting_in_group[group] / allowance),
            group,
            run.node_id,
        )

    started: list[str] = []
    waiting: dict[str, WaitReason] = {}
    for run in sorted(pending, key=priority):
        node = run.node_id
        group = cluster.group_of(node)
        reason: WaitReason | None = None
        if run.held:
            reason = WaitReason.HELD_MANUAL
        elif health.get(node, Health.UNKNOWN) is not Health.UP or node in busy_elsewhere:
            reason = WaitReason.NODE_DOWN
        elif not (run.canary or gate_open):
            reason = WaitReason.CANARY_GATE
        elif not cluster.qos_of(node).allows(now, expected_duration):
            reason = WaitReason.OUTSIDE_WINDOW
        elif unavailable[group] + 1 > cluster.allowance(group):
            reason = WaitReason.GROUP_FULL
        elif cluster_room is not None and cluster_room <= 0:
            reason = WaitReason.CLUSTER_CAP
        elif global_room is not None and global_room <= 0:
            reason = WaitReason.GLOBAL_CAP
        if reason is not None:
            waiting[node] = reason
            continue
        started.append(node)
        unavailable[group] += 1
        cluster_room = None if cluster_room is None else cluster_room - 1
        global_room = None if global_room is None else global_room - 1
    staging: list[str] = []
    for run in sorted(to_stage, key=lambda r: (0 if r.canary else 1, r.node_id)):
        if run.held:
            waiting[run.node_id] = WaitReason.HELD_MANUAL
        elif health.get(run.node_id, Health.UNKNOWN) is not Health.UP or (
                run.node_id in busy_elsewhere):
            waiting[run.node_id] = WaitReason.NODE_DOWN
        elif not (run.canary or gate_open):
            waiting[run.node_id] = WaitReason.CANARY_GATE
        else:
            staging.append(run.node_id)
    return Admission(tuple(started), dict(sorted(waiting.items())), tuple(staging))


def _room(cap: int | None, used: int) -> int | None:
    return None if cap is None else cap - used


def reassign_canaries(
    cluster: Cluster,
    campaign: Campaign,
    runs: Mapping[str, NodeRun],
    health: Mapping[str, Health],
    models: Mapping[str, str],
) -> tuple[Campaign, dict[str, NodeRun]]:
    """Swap out canaries that have not started and are not UP, so the gate cannot stall.

    For each such canary, another PENDING, unheld, UP node of the same model
    (lowest QoS order, then smallest id) becomes the canary instead; when
    there is none the canary stays and the campaign waits for it. Returns the
    campaign with its new canary list and the runs with updated flags (persist
    both before the next admission).
    """
    updated = dict(runs)
    canaries = list(campaign.canaries)
    for index, canary in enumerate(campaign.canaries):
        run = updated.get(canary)
        if run is None or run.step is not NodeStep.PENDING:
            continue
        if health.get(canary, Health.UNKNOWN) is Health.UP:
            continue
        candidates = sorted(
            (cluster.qos_of(r.node_id).order, r.node_id)
            for r in updated.values()
            if r.step is NodeStep.PENDING and not r.held and not r.canary
            and models.get(r.node_id) == models.get(canary)
            and health.get(r.node_id, Health.UNKNOWN) is Health.UP
        )
        if not candidates:
            continue
        replacement = candidates[0][1]
        updated[canary] = replace(run, canary=False)
        updated[replacement] = replace(updated[replacement], canary=True)
        canaries[index] = replacement
    return replace(campaign, canaries=tuple(sorted(canaries))), updated
