"""Planner and admission at scale: the pure domain code, no I/O.

A cluster of N nodes in G redundancy groups (N/G nodes each, allowance A per group,
three QoS classes with a nightly window on one of them, two models) is planned for
one image, and the online admission rule is asked what may start in three moments
of a rollout: the first tick (every node pending), mid-way (a third done, one node
per group active) and near the end. Printed: the time to build the cluster, to
plan, and per admission tick (median of --repeat), the number of waves against the
optimum (the plan's lower bound plus the canary waves), and the peak RSS. The last
line is JSON. Times are this process's CPU seconds (time.process_time), so other work
on the machine inflates them less than wall-clock time would.

    .venv/bin/python bench/planner.py                    # 100,000 nodes, 10,000 groups
    .venv/bin/python bench/planner.py --nodes 10000 --groups 1000
"""

from __future__ import annotations

import json
import resource
import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

# bench/ is a directory of scripts: running one puts bench/ first on sys.path.
from common import bench_parser

from gateway.domain import (
    Applicability,
    Cluster,
    Health,
    NodeSpec,
    NodeStep,
    NodeTarget,
    RedundancyGroup,
    plan_campaign,
    startable_now,
)
from gateway.domain.campaign_state import Campaign, CampaignState
from gateway.domain.node_state import NodeRun
from gateway.domain.windows import MaintenanceWindow, QosClass

START = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # inside the nightly window
SLOT = timedelta(minutes=10)


def build(nodes: int, groups: int, allowance: int) -> Cluster:
    nightly = MaintenanceWindow(tuple(range(7)), dtime(0, 0), timedelta(hours=6))
    qos = (QosClass("gold", order=0), QosClass("silver", order=1),
           QosClass("night", order=2, windows=(nightly,)))
    specs = tuple(NodeSpec(f"n{i:06d}", f"g{i % groups:05d}", qos[i % 3].name)
                  for i in range(nodes))
    return Cluster("bench", tuple(RedundancyGroup(f"g{g:05d}", max_unavailable=allowance)
                                  for g in range(groups)), specs, qos)


def timed(call, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    figures, result = [], None
    for _ in range(repeat):
        begin = time.process_time()
        result = call()
        figures.append(time.process_time() - begin)
    return statistics.median(figures), result


def main() -> None:
    args = bench_parser(__doc__, nodes=100_000, groups=10_000, allowance=2,
                        repeat=5).parse_args()

    begin = time.process_time()
    cluster = build(args.nodes, args.groups, args.allowance)
    build_s = time.process_time() - begin
    ids = cluster.node_ids()
    targets = {n: NodeTarget(model=f"m{i % 2}", applicability=Applicability.UPDATE)
               for i, n in enumerate(ids)}
    health = {n: Health.UP for n in ids}
    plan_s, plan = timed(lambda: plan_campaign(cluster, targets, health, start=START,
                                               slot=SLOT), max(1, args.repeat // 2))
    canary_waves = sum(1 for w in plan.waves if w.canary)  # type: ignore[attr-defined]
    main_waves = len(plan.waves) - canary_waves  # type: ignore[attr-defined]
    optimal = plan.lower_bound  # type: ignore[attr-defined]

    canaries = plan.canaries  # type: ignore[attr-defined]
    campaign = Campaign("c", "bench", CampaignState.RUNNING, failure_budget=10,
                        canaries=canaries)
    moments = {}
    third = len(ids) // 3
    for label, done, active in (("first", 0, 0), ("middle", third, 1),
                                ("end", len(ids) - args.groups, 0)):
        runs: dict[str, NodeRun] = {}
        active_in: dict[str, int] = {}
        for index, node in enumerate(ids):
            step = NodeStep.PENDING
            if node in canaries or index < done:
                step = NodeStep.DONE
            elif active and active_in.get(cluster.group_of(node), 0) < active:
                step = NodeStep.MONITOR
                active_in[cluster.group_of(node)] = active_in.get(cluster.group_of(node), 0) + 1
            runs[node] = NodeRun(node, step, canary=node in canaries)
        moments[label] = timed(lambda runs=runs: startable_now(  # type: ignore[misc]
            cluster, campaign, runs, health, now=START, expected_duration=SLOT),
            args.repeat)[0]
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"nodes": args.nodes, "groups": args.groups, "allowance": args.allowance,
              "build_s": round(build_s, 3), "plan_s": round(plan_s, 3),
              "waves": main_waves, "optimal_waves": optimal, "canary_waves": canary_waves,
              "admission_ms": {k: round(v * 1000, 1) for k, v in moments.items()},
              "peak_rss_mb": round(rss_mb, 1)}
    print(f"{args.nodes} nodes in {args.groups} groups: cluster {build_s:.2f} s, plan "
          f"{plan_s:.2f} s, {main_waves} waves (optimal {optimal}) + {canary_waves} canary; "
          f"admission per tick {', '.join(f'{k} {v*1000:.0f} ms' for k, v in moments.items())}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
