"""Planner: examples a reader can check by hand, then properties over random clusters."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain import (
    Applicability,
    Cluster,
    Exclusion,
    Health,
    MaintenanceWindow,
    NodeSpec,
    NodeStep,
    NodeTarget,
    Plan,
    PlanningError,
    QosClass,
    down_per_group,
    plan_campaign,
)

from .conftest import MODELS, SLOT, START, Scenario, all_up, scenarios, simple_cluster, update_all


def plan_of(s: Scenario, **kwargs: object) -> Plan:
    return plan_campaign(s.cluster, s.targets, s.health, start=START, slot=SLOT,
                         max_concurrent=s.cap, **kwargs)  # type: ignore[arg-type]


def test_three_groups_of_six_with_allowance_two_need_canary_then_three_waves() -> None:
    cluster = simple_cluster({"g0": (6, 2), "g1": (6, 2), "g2": (6, 2)})
    plan = plan_campaign(cluster, update_all(cluster), all_up(cluster), start=START, slot=SLOT)
    assert plan.canaries == ("g0-0",)  # one model: the smallest id among equal QoS
    assert [len(w.node_ids) for w in plan.waves] == [1, 6, 6, 5]
    assert plan.lower_bound == 3 and len(plan.main_waves) == 3
    assert [w.starts_at for w in plan.waves] == [START + i * SLOT for i in range(4)]


def test_down_node_counts_against_its_group_allowance() -> None:
    cluster = simple_cluster({"g0": (4, 2)})
    health = all_up(cluster) | {"g0-3": Health.DOWN}
    plan = plan_campaign(cluster, update_all(cluster), health, start=START, slot=SLOT)
    # g0-3 is down: one slot is taken, so only one node at a time is updated.
    assert all(len(w.node_ids) == 1 for w in plan.waves)
    assert plan.excluded == {"g0-3": Exclusion.UNAVAILABLE}
    assert plan.initial_runs()["g0-3"].step is NodeStep.PENDING  # started once it is back


def test_group_with_no_room_is_blocked_and_never_in_a_wave() -> None:
    cluster = simple_cluster({"g0": (3, 1), "g1": (2, 1)})
    health = all_up(cluster) | {"g0-2": Health.DOWN}
    plan = plan_campaign(cluster, update_all(cluster), health, start=START, slot=SLOT)
    assert plan.excluded["g0-0"] is Exclusion.GROUP_BLOCKED
    assert {n for w in plan.waves for n in w.node_ids} == {"g1-0", "g1-1"}


def test_group_allowing_no_unavailability_is_never_updated_automatically() -> None:
    cluster = simple_cluster({"g0": (2, 0), "g1": (2, 1)})
    plan = plan_campaign(cluster, update_all(cluster), all_up(cluster), start=START, slot=SLOT)
    assert plan.excluded == {"g0-0": Exclusion.NO_ALLOWANCE, "g0-1": Exclusion.NO_ALLOWANCE}
    assert plan.initial_runs()["g0-0"].step is NodeStep.SKIPPED


def test_not_applicable_up_to_date_and_uninventoried_nodes_are_reported_not_touched() -> None:
    cluster = simple_cluster({"g0": (4, 4)})
    targets = {
        "g0-0": NodeTarget("A", Applicability.UPDATE),
        "g0-1": NodeTarget("A", Applicability.NOT_APPLICABLE),
        "g0-2": NodeTarget("A", Applicability.UP_TO_DATE),
    }
    plan = plan_campaign(cluster, targets, all_up(cluster), start=START, slot=SLOT)
    assert plan.excluded == {"g0-1": Exclusion.NOT_APPLICABLE, "g0-2": Exclusion.UP_TO_DATE,
                             "g0-3": Exclusion.NO_INVENTORY}
    runs = plan.initial_runs()
    assert runs["g0-1"].step is NodeStep.NOT_APPLICABLE
    assert runs["g0-2"].step is NodeStep.SKIPPED
    assert "g0-3" not in runs


def test_one_canary_per_model_prefers_least_critical_and_spreads_groups() -> None:
    qos = (QosClass("low", 0), QosClass("high", 5))
    cluster = Cluster(
        "c", simple_cluster({"g0": (1, 1), "g1": (1, 1)}).groups,
        (NodeSpec("a1", "g0", "high"),
         NodeSpec("a2", "g0", "low"),
         NodeSpec("b1", "g0", "low"),
         NodeSpec("b2", "g1", "high")),
        qos,
    )
    targets = {"a1": NodeTarget("A", Applicability.UPDATE), "a2": NodeTarget("A",
               Applicability.UPDATE), "b1": NodeTarget("B", Applicability.UPDATE),
               "b2": NodeTarget("B", Applicability.UPDATE)}
    plan = plan_campaign(cluster, targets, all_up(cluster), start=START, slot=SLOT)
    # Model A: a2 (low QoS). Model B: b1 is low QoS but g0's single slot is taken by a2,
    # so b2 in g1 lets both canaries run in the same wave.
    assert plan.canaries == ("a2", "b2")
    assert len(plan.canary_waves) == 1


def test_manual_only_nodes_are_held_and_never_scheduled() -> None:
    qos = (QosClass("default"), QosClass("manual", manual_only=True))
    base = simple_cluster({"g0": (3, 3)})
    nodes = (*base.nodes[:2], NodeSpec("g0-2", "g0", "manual"))
    cluster = Cluster("c", base.groups, nodes, qos)
    plan = plan_campaign(cluster, update_all(cluster), all_up(cluster), start=START, slot=SLOT)
    assert plan.excluded == {"g0-2": Exclusion.MANUAL_ONLY}
    assert plan.initial_runs()["g0-2"].held


def test_window_delays_nodes_until_it_opens() -> None:
    night = MaintenanceWindow(tuple(range(7)), time(22, 0), timedelta(hours=2))
    qos = (QosClass("default"), QosClass("night", windows=(night,)))
    base = simple_cluster({"g0": (2, 2)})
    nodes = (base.nodes[0], NodeSpec("g0-1", "g0", "night"))
    cluster = Cluster("c", base.groups, nodes, qos)
    targets = {"g0-0": NodeTarget("A", Applicability.UPDATE),
               "g0-1": NodeTarget("B", Applicability.UPDATE)}
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    plan = plan_campaign(cluster, targets, all_up(cluster), start=start, slot=SLOT)
    # Model B's canary is g0-1; it must wait for 22:00, and fit by 24:00.
    assert plan.wave_of("g0-1") is not None
    assert plan.wave_of("g0-1").starts_at == datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # type: ignore[union-attr]


def test_window_shorter_than_an_update_excludes_the_node() -> None:
    short = MaintenanceWindow((0,), time(1, 0), timedelta(minutes=10))
    qos = (QosClass("short", windows=(short,)),)
    cluster = Cluster("c", simple_cluster({"g0": (1, 1)}).groups,
                      (NodeSpec("g0-0", "g0", "short"),),
                      qos)
    plan = plan_campaign(cluster, update_all(cluster), all_up(cluster), start=START, slot=SLOT)
    assert plan.excluded == {"g0-0": Exclusion.NO_WINDOW}
    assert plan.initial_runs()["g0-0"].step is NodeStep.SKIPPED


def test_verified_models_need_no_canary() -> None:
    cluster = simple_cluster({"g0": (4, 2)})
    plan = plan_campaign(cluster, update_all(cluster), all_up(cluster), start=START, slot=SLOT,
                         verified_models=[MODELS[0]])
    assert plan.canaries == () and len(plan.waves) == 2


@pytest.mark.parametrize(
    ("description", "kwargs", "message"),
    [
        ("unknown node", {"targets": {"zz": NodeTarget("A", Applicability.UPDATE)}}, "zz"),
        ("zero slot", {"slot": timedelta(0)}, "slot"),
        ("zero cap", {"max_concurrent": 0}, "max_concurrent"),
    ],
)
def test_bad_planner_input_is_refused_with_a_clear_message(
    description: str, kwargs: dict[str, object], message: str
) -> None:
    cluster = simple_cluster({"g0": (2, 1)})
    args: dict[str, object] = {"targets": update_all(cluster), "slot": SLOT}
    args.update(kwargs)
    with pytest.raises(PlanningError, match=message):
        plan_campaign(cluster, args["targets"], all_up(cluster), start=START,  # type: ignore[arg-type]
                      slot=args["slot"], max_concurrent=args.get("max_concurrent"))  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties


def check_invariant(s: Scenario, plan: Plan) -> None:
    """No wave exceeds any group's allowance counting down nodes; cap; no overlap."""
    down = down_per_group(s.cluster, s.health)
    caps = [c for c in (s.cap, s.cluster.max_concurrent) if c is not None]
    for wave in plan.waves:
        in_wave = Counter(s.cluster.group_of(n) for n in wave.node_ids)
        for group, count in in_wave.items():
            assert count + down[group] <= s.cluster.allowance(group), (wave, group)
        assert not caps or len(wave.node_ids) <= min(caps)
    for earlier, later in zip(plan.waves, plan.waves[1:], strict=False):
        assert later.starts_at >= earlier.starts_at + SLOT  # one wave in flight at a time


@settings(max_examples=150, deadline=None)
@given(scenarios(windows=True, manual=True, cap=True))
def test_no_wave_exceeds_a_group_allowance_or_the_cap(s: Scenario) -> None:
    check_invariant(s, plan_of(s))


@settings(max_examples=150, deadline=None)
@given(scenarios(windows=True, manual=True, cap=True))
def test_only_schedulable_update_nodes_are_in_waves_each_exactly_once(s: Scenario) -> None:
    plan = plan_of(s)
    scheduled = [n for w in plan.waves for n in w.node_ids]
    assert len(scheduled) == len(set(scheduled))
    assert set(scheduled).isdisjoint(plan.excluded)
    assert set(scheduled) | set(plan.excluded) == set(s.cluster.node_ids())
    for node in scheduled:
        assert s.targets[node].applicability is Applicability.UPDATE
        assert s.health[node] is Health.UP
        assert not s.cluster.qos_of(node).manual_only
        wave = plan.wave_of(node)
        assert wave is not None and s.cluster.qos_of(node).allows(wave.starts_at, SLOT)


@settings(max_examples=150, deadline=None)
@given(scenarios(windows=True, manual=True, cap=True))
def test_canaries_one_per_model_all_before_any_other_node(s: Scenario) -> None:
    plan = plan_of(s)
    scheduled_models = {plan.models[n] for w in plan.waves for n in w.node_ids}
    canary_models = [plan.models[n] for n in plan.canaries]
    assert sorted(canary_models) == sorted(scheduled_models)  # exactly one per model
    assert {n for w in plan.canary_waves for n in w.node_ids} == set(plan.canaries)
    if plan.canary_waves and plan.main_waves:
        last_canary = max(w.starts_at for w in plan.canary_waves)
        assert min(w.starts_at for w in plan.main_waves) >= last_canary + SLOT
    # Waiting nodes (down or blocked now) only stay pending if their model has a canary.
    runs = plan.initial_runs()
    for node, why in plan.excluded.items():
        if why in (Exclusion.UNAVAILABLE, Exclusion.GROUP_BLOCKED):
            assert plan.models[node] in canary_models and runs[node].step is NodeStep.PENDING


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_main_waves_equal_lower_bound_when_no_window_or_cap_binds(s: Scenario) -> None:
    plan = plan_of(s)
    down = down_per_group(s.cluster, s.health)
    main = [n for w in plan.main_waves for n in w.node_ids]
    per_group = Counter(s.cluster.group_of(n) for n in main)
    expected = max(
        ((count + s.cluster.allowance(g) - down[g] - 1) // (s.cluster.allowance(g) - down[g])
         for g, count in per_group.items()),
        default=0,
    )
    assert plan.lower_bound == expected
    assert len(plan.main_waves) == expected


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_lower_qos_order_never_updates_later_within_a_group(s: Scenario) -> None:
    plan = plan_of(s)
    index = {n: w.index for w in plan.main_waves for n in w.node_ids}
    for a in index:
        for b in index:
            same_group = s.cluster.group_of(a) == s.cluster.group_of(b)
            if same_group and s.cluster.qos_of(a).order < s.cluster.qos_of(b).order:
                assert index[a] <= index[b]


@settings(max_examples=100, deadline=None)
@given(scenarios(windows=True, manual=True, cap=True), st.randoms(use_true_random=False))
def test_plan_is_deterministic_whatever_the_input_order(s: Scenario, rnd: random.Random) -> None:
    nodes = list(s.cluster.nodes)
    rnd.shuffle(nodes)
    shuffled = Cluster(s.cluster.name, tuple(reversed(s.cluster.groups)), tuple(nodes),
                       tuple(reversed(s.cluster.qos_classes)), s.cluster.failure_budget,
                       s.cluster.autonomy, s.cluster.max_concurrent)
    items = list(s.targets.items())
    rnd.shuffle(items)
    other = plan_campaign(shuffled, dict(items), dict(reversed(s.health.items())),
                          start=START, slot=SLOT, max_concurrent=s.cap)
    assert other == plan_of(s)


def test_when_the_cap_binds_the_group_needing_most_waves_goes_first() -> None:
    # g1 needs 3 waves alone, g0 one; with 2 at a time the best is 3 waves, not 4.
    cluster = simple_cluster({"g0": (2, 2), "g1": (3, 1)}, max_concurrent=2)
    plan = plan_campaign(cluster, update_all(cluster), all_up(cluster), start=START, slot=SLOT,
                         verified_models=[MODELS[0]])
    assert [w.node_ids for w in plan.waves] == [("g0-0", "g1-0"), ("g0-1", "g1-1"), ("g1-2",)]


@settings(max_examples=200, deadline=None)
@given(scenarios(manual=True, windows=True), st.integers(0, 7 * 24))
def test_uncapped_waves_are_the_ones_the_global_greedy_order_builds(
        s: Scenario, hours: int) -> None:
    """Without a cap the planner fills each group on its own (fast at 100,000 nodes);
    the waves must be exactly those of the one-global-order greedy it replaces."""
    from gateway.domain.planner import _build_waves, _Context, _greedy_waves

    down = down_per_group(s.cluster, s.health)
    room = {g: s.cluster.allowance(g) - down[g] for g in s.cluster.group_names()}
    ctx = _Context(s.cluster, SLOT, None, room)
    nodes = [n for n in s.cluster.node_ids() if room[s.cluster.group_of(n)] > 0
             and s.cluster.qos_of(n).next_allowed(START, SLOT) is not None]
    begin = START + timedelta(hours=hours)
    assert _build_waves(ctx, nodes, begin) == _greedy_waves(ctx, nodes, begin)
