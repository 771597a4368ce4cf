"""Planner and admission at scale: the pure domain code, no I/O.

A cluster of N nodes in G redundancy groups (N/G nodes each, allowance A per group,
three QoS classes with a nightly window on one of them, two models) is planned for
one image, and the online admission rule is asked what may start in three moments
of a rollout: the first tick (every node pending), mid-way (a third done, one node
per group active) and near the end. Each moment is asked three ways: cold (a new
AdmissionBook, i.e. startable_now), the next tick (the book that answered, after the
nodes it named moved on to PRECHECK, as the scheduler does) and a steady tick (then
--changes in-flight runs advancing a step). The scheduler's own per-tick work is
measured too: turning the store's 100,000 run rows and health readings into domain
objects (TickInputs), the first time and on a tick where --changes rows changed,
against rebuilding every object as the scheduler did before. Printed: the time to
build the cluster, to plan, and per tick (median of --repeat), the number of waves
against the optimum (the plan's lower bound plus the canary waves), and the peak RSS.
The last line is JSON. Times are this process's CPU seconds (time.process_time), so other work
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
    AdmissionBook,
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
from gateway.orchestrator.tick_inputs import RunRow, TickInputs

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


def timed_after(setup, call, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Median CPU seconds of call(setup()), setup untimed (it brings a book to a state)."""
    figures = []
    for _ in range(repeat):
        state = setup()
        begin = time.process_time()
        call(state)
        figures.append(time.process_time() - begin)
    return statistics.median(figures)


def moved_on(runs: dict[str, NodeRun], nodes: tuple[str, ...]) -> dict[str, NodeRun]:
    return runs | {node: runs[node].to(NodeStep.PRECHECK) for node in nodes}


def advanced(runs: dict[str, NodeRun], changes: int) -> dict[str, NodeRun]:
    """`changes` in-flight runs one step further (PRECHECK -> DRAIN ...)."""
    moving = [r for r in runs.values() if r.step is NodeStep.PRECHECK][:changes]
    return runs | {r.node_id: r.to(NodeStep.DRAIN) for r in moving}


def admission_ticks(cluster: Cluster, campaign: Campaign, runs: dict[str, NodeRun],
                    health: dict[str, Health], args) -> dict[str, float]:  # type: ignore[no-untyped-def]
    def ask(book: AdmissionBook, these: dict[str, NodeRun]) -> tuple[str, ...]:
        return book.decide(campaign, these, health, now=START, expected_duration=SLOT).start

    first = ask(AdmissionBook(cluster), runs)
    following = moved_on(runs, first)
    steady = advanced(following, args.changes)

    def after(*ticks: dict[str, NodeRun]):  # type: ignore[no-untyped-def]
        def setup() -> AdmissionBook:
            book = AdmissionBook(cluster)
            for tick in ticks:
                ask(book, tick)
            return book
        return setup

    return {
        "cold": timed(lambda: startable_now(cluster, campaign, runs, health, now=START,
                                            expected_duration=SLOT), args.repeat)[0],
        "next": timed_after(after(runs), lambda b: ask(b, following), args.repeat),
        "steady": timed_after(after(runs, following), lambda b: ask(b, steady), args.repeat),
    }


def caller_ticks(ids: tuple[str, ...], args) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The scheduler's conversion of the store's rows (as run_states returns them)."""
    rows: list[RunRow] = [(n, "pending", 1, False, False, None) for n in ids]
    changed = [(n, "precheck", 1, False, False, None) if i < args.changes else row
               for i, (n, row) in enumerate(zip(ids, rows, strict=True))]
    raw = {n: "up" for n in ids}

    def rebuilt() -> None:  # what the scheduler did every tick before TickInputs
        {node: NodeRun(node, NodeStep(step), attempt, canary, held, error)
         for node, step, attempt, canary, held, error in rows}
        {node: Health(value) for node, value in raw.items()}

    def warmed() -> TickInputs:
        inputs = TickInputs()
        inputs.runs("c", rows)
        inputs.health("bench", dict(raw))
        return inputs

    def tick(inputs: TickInputs) -> None:
        inputs.runs("c", changed)
        inputs.health("bench", dict(raw))

    return {"rebuilt": timed(rebuilt, args.repeat)[0],
            "first": timed(lambda: tick(TickInputs()), args.repeat)[0],
            "steady": timed_after(warmed, tick, args.repeat)}


def main() -> None:
    args = bench_parser(__doc__, nodes=100_000, groups=10_000, allowance=2,
                        repeat=5, changes=1000).parse_args()

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
        moments[label] = admission_ticks(cluster, campaign, runs, health, args)
    caller = caller_ticks(ids, args)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"nodes": args.nodes, "groups": args.groups, "allowance": args.allowance,
              "build_s": round(build_s, 3), "plan_s": round(plan_s, 3),
              "waves": main_waves, "optimal_waves": optimal, "canary_waves": canary_waves,
              "admission_ms": {k: {how: round(v * 1000, 1) for how, v in m.items()}
                               for k, m in moments.items()},
              "changes": args.changes,
              "caller_ms": {k: round(v * 1000, 1) for k, v in caller.items()},
              "peak_rss_mb": round(rss_mb, 1)}
    print(f"{args.nodes} nodes in {args.groups} groups: cluster {build_s:.2f} s, plan "
          f"{plan_s:.2f} s, {main_waves} waves (optimal {optimal}) + {canary_waves} canary; "
          f"admission per tick (cold/next/steady) " + ", ".join(
              f"{k} {'/'.join(f'{v * 1000:.0f}' for v in m.values())} ms"
              for k, m in moments.items())
          + "; scheduler's row conversion (rebuilt/first/steady) "
          + "/".join(f"{v * 1000:.0f}" for v in caller.values()) + " ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
