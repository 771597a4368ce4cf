"""Hypothesis strategies and small builders for the domain tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from hypothesis import strategies as st

from gateway.domain import (
    Applicability,
    AutonomyPolicy,
    Cluster,
    Health,
    MaintenanceWindow,
    NodeSpec,
    NodeTarget,
    QosClass,
    RedundancyGroup,
)

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday, midnight UTC
SLOT = timedelta(minutes=30)
MODELS = ("FF-1U-R450", "FF-2U-R750", "FF-4U-X900")


@dataclass(frozen=True)
class Scenario:
    """A random cluster with per-node model, applicability and health."""

    cluster: Cluster
    targets: dict[str, NodeTarget]
    health: dict[str, Health]
    cap: int | None


def simple_cluster(sizes: dict[str, tuple[int, int]], *, budget: int = 0,
                   autonomy: AutonomyPolicy = AutonomyPolicy.AUTO_APPROVE,
                   qos_classes: tuple[QosClass, ...] = (QosClass("default"),),
                   max_concurrent: int | None = None) -> Cluster:
    """Groups named g0.. with (size, max_unavailable); nodes g0-0, g0-1, ..."""
    groups = tuple(RedundancyGroup(name, max_unavailable=allow) for name, (_, allow) in
                   sizes.items())
    nodes = tuple(NodeSpec(f"{name}-{i}", name) for name, (size, _) in sizes.items()
                  for i in range(size))
    return Cluster("c1", groups, nodes, qos_classes, budget, autonomy, max_concurrent)


def update_all(cluster: Cluster, model: str = MODELS[0]) -> dict[str, NodeTarget]:
    return {n: NodeTarget(model, Applicability.UPDATE) for n in cluster.node_ids()}


def all_up(cluster: Cluster) -> dict[str, Health]:
    return dict.fromkeys(cluster.node_ids(), Health.UP)


# A window every night 22:00–04:00 UTC and one on Saturdays all day.
NIGHTLY = MaintenanceWindow(tuple(range(7)), time(22, 0), timedelta(hours=6))
SATURDAY = MaintenanceWindow((5,), time(0, 0), timedelta(days=1))


@st.composite
def scenarios(draw: st.DrawFn, *, windows: bool = False, manual: bool = False,
              cap: bool = False, down: bool = True) -> Scenario:
    """Random clusters: 1–5 groups of 1–7 nodes, allowance by either limit."""
    qos = [QosClass("q0", 0), QosClass("q1", 1), QosClass("q2", 2)]
    if windows:
        qos += [QosClass("night", 1, (NIGHTLY,)), QosClass("weekend", 0, (SATURDAY,))]
    if manual:
        qos.append(QosClass("manual", 0, manual_only=True))
    qos_names = [q.name for q in qos]
    groups, nodes = [], []
    for g in range(draw(st.integers(1, 5))):
        size = draw(st.integers(1, 7))
        limit = draw(st.integers(0, size))
        if draw(st.booleans()):
            groups.append(RedundancyGroup(f"g{g}", max_unavailable=limit))
        else:
            groups.append(RedundancyGroup(f"g{g}", min_available=limit))
        nodes += [NodeSpec(f"g{g}-n{i}", f"g{g}", draw(st.sampled_from(qos_names)))
                  for i in range(size)]
    cluster = Cluster("c", tuple(groups), tuple(nodes), tuple(qos),
                      failure_budget=draw(st.integers(0, 2)),
                      autonomy=AutonomyPolicy.AUTO_APPROVE,
                      max_concurrent=draw(st.none() | st.integers(1, 6)) if cap else None)
    targets, health = {}, {}
    for node in cluster.node_ids():
        applicability = draw(st.sampled_from(
            [Applicability.UPDATE] * 4 + [Applicability.UP_TO_DATE, Applicability.NOT_APPLICABLE]
        ))
        if draw(st.integers(0, 9)) > 0:  # a few nodes were never inventoried
            targets[node] = NodeTarget(draw(st.sampled_from(MODELS)), applicability)
        up = not down or draw(st.integers(0, 7)) > 0
        health[node] = Health.UP if up else Health.DOWN
    global_cap = draw(st.none() | st.integers(1, 6)) if cap else None
    return Scenario(cluster, targets, health, global_cap)
