"""The online "what may start now" rule, by example and by simulated rollouts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain import (
    PATH,
    Campaign,
    CampaignEvent,
    CampaignState,
    Cluster,
    Health,
    MaintenanceWindow,
    NodeRun,
    NodeSpec,
    NodeStep,
    QosClass,
    canary_gate_open,
    clear_node,
    covered,
    exclusion_of,
    new_campaign,
    next_event,
    open_failures,
    plan_campaign,
    reassign_canaries,
    startable_now,
    unavailable_per_group,
)
from gateway.domain import WaitReason as W
from gateway.domain import admission_flat as flat_module

from .conftest import SLOT, START, Scenario, all_up, scenarios, simple_cluster

RUNNING = CampaignState.RUNNING


def campaign(state: CampaignState = RUNNING, canaries: tuple[str, ...] = ()) -> Campaign:
    return Campaign("k1", "c1", state, failure_budget=0, canaries=canaries)


def pending(*nodes: str, canary: tuple[str, ...] = ()) -> dict[str, NodeRun]:
    return {n: NodeRun(n, canary=n in canary) for n in nodes}


def test_fills_each_group_up_to_its_allowance() -> None:
    cluster = simple_cluster({"g0": (4, 2), "g1": (3, 1)})
    admission = startable_now(cluster, campaign(), pending(*cluster.node_ids()),
                              all_up(cluster), now=START, expected_duration=SLOT)
    # g1 needs three rounds, g0 two: the group with more work left comes first.
    assert admission.start == ("g1-0", "g0-0", "g0-1")
    assert admission.waiting == {"g0-2": W.GROUP_FULL, "g0-3": W.GROUP_FULL,
                                 "g1-1": W.GROUP_FULL, "g1-2": W.GROUP_FULL}


def test_in_flight_failed_quarantined_and_down_nodes_all_take_slots() -> None:
    cluster = simple_cluster({"g0": (7, 4)})
    runs = pending("g0-3", "g0-4", "g0-5", "g0-6") | {
        "g0-0": NodeRun("g0-0", NodeStep.DELIVER),
        "g0-1": NodeRun("g0-1", NodeStep.QUARANTINED),
        "g0-2": NodeRun("g0-2", NodeStep.FAILED),  # answers, but is not made safe yet
    }
    health = all_up(cluster) | {"g0-1": Health.DOWN}
    admission = startable_now(cluster, campaign(), runs, health, now=START, expected_duration=SLOT)
    assert admission.start == ("g0-3",)  # 4 allowed, 3 taken
    # Once the quarantined node is observed healthy, it gives its slot back.
    health["g0-1"] = Health.UP
    admission = startable_now(cluster, campaign(), runs, health, now=START, expected_duration=SLOT)
    assert admission.start == ("g0-3", "g0-4")


def test_nothing_but_canaries_start_until_every_canary_is_done() -> None:
    cluster = simple_cluster({"g0": (3, 3), "g1": (3, 3)})
    runs = pending(*cluster.node_ids(), canary=("g0-0", "g1-0"))
    gated = campaign(canaries=("g0-0", "g1-0"))
    admission = startable_now(cluster, gated, runs, all_up(cluster), now=START,
                              expected_duration=SLOT)
    assert admission.start == ("g0-0", "g1-0")
    assert set(admission.waiting.values()) == {W.CANARY_GATE}
    runs["g0-0"] = NodeRun("g0-0", NodeStep.DONE, canary=True)
    runs["g1-0"] = NodeRun("g1-0", NodeStep.POSTCHECK, canary=True)
    assert startable_now(cluster, gated, runs, all_up(cluster), now=START,
                         expected_duration=SLOT).start == ()
    runs["g1-0"] = NodeRun("g1-0", NodeStep.DONE, canary=True)
    assert len(startable_now(cluster, gated, runs, all_up(cluster), now=START,
                             expected_duration=SLOT).start) == 4


def test_caps_windows_holds_and_campaign_state_stop_starts() -> None:
    night = MaintenanceWindow(tuple(range(7)), time(22, 0), timedelta(hours=2))
    base = simple_cluster({"g0": (5, 5)})
    cluster = Cluster("c", base.groups, (
        *base.nodes[:3], NodeSpec("g0-3", "g0", "night"), NodeSpec("g0-4", "g0")),
        (QosClass("default"), QosClass("night", windows=(night,))), max_concurrent=3)
    runs = pending(*cluster.node_ids()) | {"g0-4": NodeRun("g0-4", held=True)}
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    admission = startable_now(cluster, campaign(), runs, all_up(cluster), now=noon,
                              expected_duration=SLOT, in_flight_elsewhere=9, global_cap=10)
    assert admission.start == ("g0-0",)
    assert admission.waiting == {"g0-1": W.GLOBAL_CAP, "g0-2": W.GLOBAL_CAP,
                                 "g0-3": W.OUTSIDE_WINDOW, "g0-4": W.HELD_MANUAL}
    admission = startable_now(cluster, campaign(), runs, all_up(cluster),
                              now=noon.replace(hour=22), expected_duration=SLOT)
    assert admission.start == ("g0-0", "g0-1", "g0-2")  # cluster cap 3
    assert admission.waiting["g0-3"] is W.CLUSTER_CAP
    paused = startable_now(cluster, campaign(CampaignState.PAUSED_BUDGET), runs,
                           all_up(cluster), now=noon, expected_duration=SLOT)
    assert paused.start == () and set(paused.waiting.values()) == {W.CAMPAIGN_NOT_RUNNING}


def test_nodes_busy_in_another_campaign_count_and_do_not_start() -> None:
    cluster = simple_cluster({"g0": (3, 1)})
    admission = startable_now(cluster, campaign(), pending("g0-0", "g0-1"), all_up(cluster),
                              now=START, expected_duration=SLOT,
                              busy_elsewhere=frozenset({"g0-2"}))
    assert admission.start == ()
    assert unavailable_per_group(cluster, {}, all_up(cluster), frozenset({"g0-2"})) == {"g0": 1}


# ------------------------------------------------------------ simulated rollouts


def advance(run: NodeRun, rnd: random.Random) -> NodeRun:
    """One step forward along the path (sometimes jumping a skippable step)."""
    if run.step is NodeStep.PRECHECK:
        return run.to(rnd.choice([NodeStep.DRAIN, NodeStep.DELIVER]))
    position = PATH.index(run.step)
    return run.to(PATH[position + 1] if position + 1 < len(PATH) else NodeStep.DONE)


def unavailable_oracle(cluster: Cluster, runs: dict[str, NodeRun],
                       health: dict[str, Health]) -> dict[str, int]:
    """Independent count: a node is unavailable when it is not observed UP, or the
    gateway holds it (any step of the update path, or failed and not yet made safe)."""
    held = {n for n, r in runs.items() if r.active or r.step is NodeStep.FAILED}
    return {g: sum(1 for n in cluster.members(g) if n in held or health.get(n) is not Health.UP)
            for g in cluster.group_names()}


def simulate(s: Scenario, rnd: random.Random, *, fail_rate: float, external: bool) -> tuple[
        Campaign, dict[str, NodeRun]]:
    """Drive a campaign with the admission rule, checking the invariants at every instant."""
    cluster = s.cluster
    plan = plan_campaign(cluster, s.targets, s.health, start=START, slot=SLOT,
                         max_concurrent=s.cap)
    runs = plan.initial_runs()
    initially_pending = {n for n, r in runs.items() if r.step is NodeStep.PENDING}
    camp = new_campaign("k", cluster, plan.canaries)
    health = dict(s.health)
    baseline = unavailable_oracle(cluster, runs, health)
    caps = [c for c in (s.cap, cluster.max_concurrent) if c is not None]
    now = START
    for _ in range(600):
        event = next_event(camp, runs)
        if event is not None:
            camp = camp.apply(event)
        admission = startable_now(cluster, camp, runs, health, now=now, expected_duration=SLOT,
                                  global_cap=s.cap)
        for node in admission.start:
            assert runs[node].step is NodeStep.PENDING and not runs[node].held
            assert node in initially_pending
            # The canary rule: no other node leaves PENDING before every canary verified.
            assert runs[node].canary or canary_gate_open(camp, runs)
            runs[node] = runs[node].to(NodeStep.PRECHECK)
        unavailable = unavailable_oracle(cluster, runs, health)
        for node in admission.start:
            group = cluster.group_of(node)
            assert unavailable[group] <= cluster.allowance(group)
        if not external:
            for group, count in unavailable.items():
                assert count <= max(cluster.allowance(group), baseline[group])
        active = sorted(n for n, r in runs.items() if r.active)
        assert not caps or len(active) <= min(caps)
        if camp.terminal and not active:
            break
        for node in [n for n, r in runs.items() if r.step is NodeStep.FAILED]:
            runs[node] = runs[node].to(NodeStep.QUARANTINED)  # made safe
            health[node] = rnd.choice([Health.UP, Health.DOWN])
        if active:
            node = rnd.choice(active)
            if rnd.random() < fail_rate:
                runs[node] = runs[node].fail("simulated failure")
            else:
                runs[node] = advance(runs[node], rnd)
                if runs[node].step is NodeStep.DONE:
                    health[node] = Health.UP
        if external and rnd.random() < 0.1:
            idle = [n for n in cluster.node_ids() if n not in runs or not runs[n].active]
            if idle:
                flip = rnd.choice(idle)
                health[flip] = Health.DOWN if health.get(flip) is Health.UP else Health.UP
        if camp.state is CampaignState.PAUSED_BUDGET:
            quarantined = sorted(n for n, r in runs.items() if r.step is NodeStep.QUARANTINED)
            runs[quarantined[0]] = clear_node(runs[quarantined[0]])
            if open_failures(runs.values()) <= camp.failure_budget:
                camp = camp.apply(CampaignEvent.RESUME, failures=open_failures(runs.values()))
        now += SLOT / 4
    return camp, runs


@settings(max_examples=120, deadline=None)
@given(scenarios(manual=True, cap=True), st.randoms(use_true_random=False), st.booleans())
def test_simulated_rollouts_keep_every_group_within_its_allowance(
        s: Scenario, rnd: random.Random, external: bool) -> None:
    simulate(s, rnd, fail_rate=0.15, external=external)


@settings(max_examples=80, deadline=None)
@given(scenarios(cap=True, down=False), st.randoms(use_true_random=False))
def test_without_failures_every_scheduled_node_is_updated(s: Scenario, rnd: random.Random) -> None:
    camp, runs = simulate(s, rnd, fail_rate=0.0, external=False)
    # Completed only when planning covered every node; nodes it could not (no window, no
    # allowance, no canary) are exclusions, and with nothing done at all it failed.
    excluded = [r for r in runs.values() if exclusion_of(r)]
    if not excluded:
        assert camp.state is CampaignState.COMPLETED
    elif any(covered(r) for r in runs.values()):
        assert camp.state is CampaignState.COMPLETED_WITH_EXCLUSIONS
    else:
        assert camp.state is CampaignState.FAILED
    assert all(r.step is not NodeStep.PENDING or r.held for r in runs.values())


@settings(max_examples=80, deadline=None)
@given(scenarios(cap=True, down=False), st.randoms(use_true_random=False))
def test_a_failed_canary_stops_the_campaign_before_any_other_node(
        s: Scenario, rnd: random.Random) -> None:
    camp, runs = simulate(s, rnd, fail_rate=1.0, external=False)
    if camp.canaries:
        assert camp.state is CampaignState.FAILED
        touched = {n for n, r in runs.items() if r.step not in (
            NodeStep.PENDING, NodeStep.SKIPPED, NodeStep.NOT_APPLICABLE)}
        assert touched <= set(camp.canaries)


def test_a_canary_that_went_down_before_starting_is_replaced_by_a_peer() -> None:
    cluster = simple_cluster({"g0": (3, 1), "g1": (2, 1)})
    models = {"g0-0": "A", "g0-1": "A", "g0-2": "B", "g1-0": "A", "g1-1": "B"}
    runs = pending(*cluster.node_ids(), canary=("g0-0", "g0-2"))
    gated = campaign(canaries=("g0-0", "g0-2"))
    health = all_up(cluster) | {"g0-0": Health.DOWN}
    new_campaign_, new_runs = reassign_canaries(cluster, gated, runs, health, models)
    assert new_campaign_.canaries == ("g0-1", "g0-2")
    assert new_runs["g0-1"].canary and not new_runs["g0-0"].canary
    # With no healthy peer of the model left, the canary stays and the campaign waits.
    health |= {"g0-1": Health.DOWN, "g1-0": Health.DOWN}
    same, _ = reassign_canaries(cluster, gated, runs, health, models)
    assert same.canaries == ("g0-0", "g0-2")


def test_exceeding_the_failure_budget_pauses_and_nothing_new_starts() -> None:
    cluster = simple_cluster({"g0": (4, 4)}, budget=0)
    runs = pending(*cluster.node_ids())
    camp = new_campaign("k", cluster, [])
    runs["g0-0"] = runs["g0-0"].to(NodeStep.PRECHECK).fail("precheck: BMC reports Critical")
    event = next_event(camp, runs)
    assert event is CampaignEvent.BUDGET_EXCEEDED
    camp = camp.apply(event)
    assert camp.state is CampaignState.PAUSED_BUDGET
    admission = startable_now(cluster, camp, runs, all_up(cluster), now=START,
                              expected_duration=SLOT)
    assert admission.start == ()
    # Clearing the failed node (once made safe) brings the campaign back within budget.
    runs["g0-0"] = clear_node(runs["g0-0"].to(NodeStep.QUARANTINED))
    camp = camp.apply(CampaignEvent.RESUME, failures=open_failures(runs.values()))
    assert startable_now(cluster, camp, runs, all_up(cluster), now=START,
                         expected_duration=SLOT).start == ("g0-1", "g0-2", "g0-3")


@settings(max_examples=60, deadline=None)
@given(scenarios(manual=True, cap=True, windows=True), st.randoms(use_true_random=False))
def test_admission_does_not_depend_on_the_order_runs_are_given(
        s: Scenario, rnd: random.Random) -> None:
    plan = plan_campaign(s.cluster, s.targets, s.health, start=START, slot=SLOT,
                         max_concurrent=s.cap)
    runs = plan.initial_runs()
    camp = new_campaign("k", s.cluster, plan.canaries)
    items = list(runs.items())
    rnd.shuffle(items)
    first = startable_now(s.cluster, camp, runs, s.health, now=START, expected_duration=SLOT,
                          global_cap=s.cap)
    second = startable_now(s.cluster, camp, dict(items), s.health, now=START,
                           expected_duration=SLOT, global_cap=s.cap)
    assert first == second
    assert set(first.start).isdisjoint(first.waiting)
    pending = {n for n, r in runs.items() if r.step is NodeStep.PENDING}
    assert set(first.start) | set(first.waiting) == pending


@settings(max_examples=300, deadline=None)
@given(scenarios(manual=True, cap=True, windows=True), st.data())
def test_the_fast_admission_starts_exactly_what_the_node_by_node_rule_starts(
        s: Scenario, data: st.DataObject) -> None:
    """startable_now skips most pending nodes at scale; it must still start the very
    nodes, in the very order, that the rule applied to every node one by one starts."""
    from gateway.domain.admission import _decide

    steps = [NodeStep.PENDING] * 6 + list(NodeStep)
    runs: dict[str, NodeRun] = {}
    for node in s.cluster.node_ids():
        if data.draw(st.integers(0, 9)) == 0:
            continue  # the campaign has no run for this node
        runs[node] = NodeRun(node, data.draw(st.sampled_from(steps)),
                             canary=data.draw(st.integers(0, 4)) == 0,
                             held=data.draw(st.integers(0, 9)) == 0)
    # Often no gate: waiting runs flagged canary then start first and take their room.
    canaries = () if data.draw(st.integers(0, 2)) == 0 else tuple(sorted(
        n for n, r in runs.items() if r.canary and data.draw(st.integers(0, 5)) > 0))
    camp = Campaign("k", "c", data.draw(st.sampled_from([RUNNING] * 5 + list(CampaignState))),
                    failure_budget=1, canaries=canaries)
    busy = frozenset(n for n in s.cluster.node_ids() if data.draw(st.integers(0, 9)) == 0)
    now = START + timedelta(hours=data.draw(st.integers(0, 7 * 24)))
    elsewhere = data.draw(st.integers(0, 3))
    staged = data.draw(st.booleans())
    # How many members per group the flat walk finds with bytes.find before it finishes
    # the groups with more room one by one (admission_flat.ROUNDS).
    saved, flat_module.ROUNDS = flat_module.ROUNDS, data.draw(st.sampled_from([0, 1, 8]))
    try:
        fast = startable_now(s.cluster, camp, runs, s.health, now=now, expected_duration=SLOT,
                             in_flight_elsewhere=elsewhere, global_cap=s.cap,
                             busy_elsewhere=busy, staged=staged)
    finally:
        flat_module.ROUNDS = saved
    started, waiting, staging = _decide(s.cluster, camp, runs, s.health, now, SLOT,
                                        elsewhere, s.cap, busy, staged)
    assert list(fast.start) == started
    assert list(fast.stage) == staging
    assert dict(fast.waiting) == waiting


def test_staged_campaign_stages_outside_windows_and_resets_inside_them() -> None:
    """Staging takes no host down: pending nodes are staged whatever the window and the
    allowance (the canary gate still holds them); STAGED nodes are admitted to their
    reset like any update: inside their window, within the allowance, canary first."""
    night = MaintenanceWindow(tuple(range(7)), time(22, 0), timedelta(hours=2))
    base = simple_cluster({"g0": (4, 1)})
    cluster = Cluster("c", base.groups, tuple(NodeSpec(n.id, "g0", "night") for n in base.nodes),
                      (QosClass("night", windows=(night,)),))
    noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    gated = campaign(canaries=("g0-0",))
    runs = pending(*cluster.node_ids(), canary=("g0-0",))
    first = startable_now(cluster, gated, runs, all_up(cluster), now=noon,
                          expected_duration=SLOT, staged=True)
    assert first.stage == ("g0-0",) and first.start == ()
    assert first.waiting == dict.fromkeys(("g0-1", "g0-2", "g0-3"), W.CANARY_GATE)
    runs["g0-0"] = NodeRun("g0-0", NodeStep.STAGED, canary=True)
    at_noon = startable_now(cluster, gated, runs, all_up(cluster), now=noon,
                            expected_duration=SLOT, staged=True)
    assert at_noon.start == () and at_noon.waiting["g0-0"] is W.OUTSIDE_WINDOW
    at_night = startable_now(cluster, gated, runs, all_up(cluster), now=noon.replace(hour=22),
                             expected_duration=SLOT, staged=True)
    assert at_night.start == ("g0-0",)
    # The canary verified: every other node is staged at once (noon, allowance 1)...
    runs["g0-0"] = NodeRun("g0-0", NodeStep.DONE, canary=True)
    runs["g0-1"] = NodeRun("g0-1", NodeStep.STAGE)
    later = startable_now(cluster, gated, runs, all_up(cluster), now=noon,
                          expected_duration=SLOT, staged=True)
    assert later.stage == ("g0-2", "g0-3") and later.start == ()
    # ... and the resets go one at a time: a node in its reset holds the only slot,
    # a staging node holds none.
    runs |= {"g0-1": NodeRun("g0-1", NodeStep.RESET), "g0-2": NodeRun("g0-2", NodeStep.STAGED),
             "g0-3": NodeRun("g0-3", NodeStep.STAGED)}
    full = startable_now(cluster, gated, runs, all_up(cluster), now=noon.replace(hour=22),
                         expected_duration=SLOT, staged=True)
    assert full.start == () and full.waiting == dict.fromkeys(("g0-2", "g0-3"), W.GROUP_FULL)
    runs["g0-1"] = NodeRun("g0-1", NodeStep.STAGE)
    assert startable_now(cluster, gated, runs, all_up(cluster), now=noon.replace(hour=22),
                         expected_duration=SLOT, staged=True).start == ("g0-2",)


def test_a_staged_node_keeps_its_campaign_open_and_is_never_done() -> None:
    runs = {"a": NodeRun("a", NodeStep.DONE), "b": NodeRun("b", NodeStep.STAGED)}
    assert next_event(campaign(), runs) is None  # its reset is still to come
    assert not covered(runs["b"]) and exclusion_of(runs["b"]) is None
    assert next_event(campaign(), {**runs, "b": NodeRun("b", NodeStep.STAGE)}) is None
