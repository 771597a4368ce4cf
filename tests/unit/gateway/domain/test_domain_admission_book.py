"""The admission book: counts kept across ticks answer exactly what the node-by-node
rule answers for each tick's runs and health, whatever changed in between."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain import (
    AdmissionBook,
    Campaign,
    CampaignState,
    Health,
    NodeRun,
    NodeStep,
    startable_now,
)
from gateway.domain import admission_book as book_module
from gateway.domain import admission_flat as flat_module
from gateway.domain.admission import _decide

from .conftest import SLOT, START, Scenario, scenarios, simple_cluster

RUNNING = CampaignState.RUNNING
# Mostly waiting and in-flight steps, so that groups fill and empty tick by tick.
STEPS = [NodeStep.PENDING] * 4 + [NodeStep.STAGED] * 2 + [NodeStep.PRECHECK] * 2 + list(NodeStep)


@contextmanager
def recount_from(changes: int, rounds: int = 8) -> Iterator[None]:
    """Make the book count anew once more than `changes` nodes moved (the small clusters
    of these tests are otherwise always moved node by node), and let a count's flat walk
    take `rounds` members per group with bytes.find before it finishes the groups with
    more room one by one."""
    saved = book_module._RECOUNT_AT, flat_module.ROUNDS
    book_module._RECOUNT_AT, flat_module.ROUNDS = changes, rounds
    try:
        yield
    finally:
        book_module._RECOUNT_AT, flat_module.ROUNDS = saved


def random_run(rnd: random.Random, node: str) -> NodeRun:
    return NodeRun(node, rnd.choice(STEPS), canary=rnd.random() < 0.1, held=rnd.random() < 0.1)


@settings(max_examples=300, deadline=None)
@given(scenarios(manual=True, cap=True, windows=True), st.randoms(use_true_random=False),
       st.sampled_from([0, 3, 1000]), st.sampled_from([0, 1, 8]))
def test_a_book_kept_across_ticks_answers_what_the_rule_answers_each_tick(
        s: Scenario, rnd: random.Random, recount: int, rounds: int) -> None:
    """Each tick a few runs, health readings and other campaigns' nodes change (the
    mappings mutated in place or handed over anew, the other runs the same objects as
    the scheduler reuses them), the clock moves across windows and the campaign and its
    canaries change: the book's start and stage are the rule's, in the rule's order."""
    cluster, staged = s.cluster, rnd.random() < 0.3
    nodes = cluster.node_ids()
    runs = {n: random_run(rnd, n) for n in nodes if rnd.random() < 0.9}
    health = dict(s.health)
    busy: frozenset[str] = frozenset()
    book = AdmissionBook(cluster, staged=staged)
    now = START
    with recount_from(recount, rounds):
        for _tick in range(12):
            # Few changes a tick, so that most groups are left as they were.
            for node in rnd.sample(nodes, min(len(nodes), rnd.choice([0, 0, 1, 2]))):
                if rnd.random() < 0.1:
                    runs.pop(node, None)
                else:
                    runs[node] = random_run(rnd, node)
            if rnd.random() < 0.3:
                node = rnd.choice(nodes)
                if rnd.random() < 0.2:
                    health.pop(node, None)
                else:
                    health[node] = rnd.choice(list(Health))
            if rnd.random() < 0.2:
                busy = busy ^ {rnd.choice(nodes)}
            if rnd.random() < 0.15:  # handed over anew: equal runs as new objects
                runs = {n: NodeRun(r.node_id, r.step, r.attempt, r.canary, r.held)
                        for n, r in runs.items()}
                health = dict(health)
            now += timedelta(hours=rnd.choice([0, 0, 1, 3, 11, 30]))
            # Often no gate at all: a closed gate hides what the groups offer.
            canaries = tuple(sorted(n for n, r in runs.items() if r.canary
                                    and rnd.random() < 0.8)) if rnd.random() < 0.5 else ()
            state = RUNNING if rnd.random() < 0.85 else rnd.choice(list(CampaignState))
            camp = Campaign("k", "c", state, failure_budget=1, canaries=canaries)
            elsewhere = rnd.randint(0, 3)
            got = book.decide(camp, runs, health, now=now, expected_duration=SLOT,
                              in_flight_elsewhere=elsewhere, global_cap=s.cap,
                              busy_elsewhere=busy)
            started, waiting, staging = _decide(cluster, camp, runs, health, now, SLOT,
                                                elsewhere, s.cap, busy, staged)
            assert list(got.start) == started
            assert list(got.stage) == staging
            assert dict(got.waiting) == waiting
            # What the scheduler then does: the started nodes leave the waiting step.
            for node in got.start if rnd.random() < 0.75 else ():
                runs[node] = runs[node].to(NodeStep.PRECHECK)


def test_a_finished_node_frees_its_group_on_the_next_tick_only() -> None:
    """A group that is full offers nothing; once one of its nodes finishes, the next
    tick starts the next member, and a tick with no change starts the same again
    (the scheduler may not have started them: another gateway led meanwhile)."""
    cluster = simple_cluster({"g0": (4, 1), "g1": (3, 1)})
    camp = Campaign("k", "c1", RUNNING, failure_budget=0, canaries=())
    runs = {n: NodeRun(n) for n in cluster.node_ids()}
    health = dict.fromkeys(cluster.node_ids(), Health.UP)
    book = AdmissionBook(cluster)

    def tick() -> tuple[str, ...]:
        return book.decide(camp, runs, health, now=START, expected_duration=SLOT).start

    assert tick() == ("g0-0", "g1-0")
    assert tick() == ("g0-0", "g1-0")  # not started by anyone: offered again
    runs["g0-0"] = runs["g0-0"].to(NodeStep.PRECHECK)
    assert tick() == ("g1-0",)
    runs["g1-0"] = runs["g1-0"].to(NodeStep.PRECHECK)
    assert tick() == ()
    runs["g0-0"] = runs["g0-0"].to(NodeStep.FAILED)  # a failed node keeps its slot
    assert tick() == ()
    health["g1-0"] = Health.DOWN
    runs["g1-0"] = runs["g1-0"].to(NodeStep.DRAIN)
    assert tick() == ()
    runs["g0-0"] = NodeRun("g0-0", NodeStep.DONE)
    assert tick() == ("g0-1",)
    assert tick() == startable_now(cluster, camp, runs, health, now=START,
                                   expected_duration=SLOT).start


def test_a_cap_goes_first_to_the_group_with_the_most_waves_left() -> None:
    """Under a cap, the group whose waiting nodes need the most waves (waiting nodes
    over its allowance, rounded up) starts first, as the rule orders them; with an
    allowance above one, 7 waiting in g1 make 4 waves against g0's 2."""
    cluster = simple_cluster({"g0": (4, 2), "g1": (7, 2)}, max_concurrent=2)
    camp = Campaign("k", "c1", RUNNING, failure_budget=0, canaries=())
    runs = {n: NodeRun(n) for n in cluster.node_ids()}
    health = dict.fromkeys(cluster.node_ids(), Health.UP)
    started = AdmissionBook(cluster).decide(camp, runs, health, now=START,
                                            expected_duration=SLOT).start
    assert started == ("g1-0", "g1-1")
    assert list(started) == _decide(cluster, camp, runs, health, START, SLOT, 0, None,
                                    frozenset())[0]


def test_a_canary_takes_a_slot_of_its_group_before_the_others_are_offered() -> None:
    """A waiting canary (the gate open: no canary phase named) starts first and takes
    one of its group's two slots, whether the book counts anew (the whole-fleet walk)
    or was kept from the tick before (the group walked alone)."""
    cluster = simple_cluster({"g0": (4, 2), "g1": (3, 2)})
    camp = Campaign("k", "c1", RUNNING, failure_budget=0, canaries=())
    runs = {n: NodeRun(n, canary=n == "g0-2") for n in cluster.node_ids()}
    health = dict.fromkeys(cluster.node_ids(), Health.UP)
    book = AdmissionBook(cluster)
    for _tick in range(2):
        assert book.decide(camp, runs, health, now=START, expected_duration=SLOT
                           ).start == ("g0-2", "g0-0", "g1-0", "g1-1")
        assert startable_now(cluster, camp, runs, health, now=START,
                             expected_duration=SLOT).start == ("g0-2", "g0-0", "g1-0", "g1-1")
        runs["g1-2"] = NodeRun("g1-2", held=True)  # a change the kept book walks alone


@settings(deadline=None)  # a loaded machine took 253 ms once: speed is not what it tests
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
       st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True), st.booleans())
def test_following_a_mapping_names_each_change_with_its_value_before(
        before_keys: list[str], now_keys: list[str], same_order: bool) -> None:
    """What the book uses to find this tick's changes: every key whose value is not the
    same object (changed, added, removed), with the value it had, and the kept mapping
    made equal; with the keys in the same order (the store's) or not."""
    kept = {key: object() for key in before_keys}
    was = dict(kept)
    if same_order:
        now_keys = before_keys
    now = {key: was[key] if key in was and key < "c" else object() for key in now_keys}
    changed = book_module._follow(kept, now)
    assert kept == now
    expected = {key: was.get(key) for key in set(was) | set(now)
                if was.get(key) is not now.get(key)}
    assert changed == expected


@settings(max_examples=200, deadline=None)
@given(scenarios(manual=True), st.randoms(use_true_random=False))
def test_facts_patched_where_they_changed_equal_the_facts_read_anew(
        s: Scenario, rnd: random.Random) -> None:
    """A book keeps every member's run, health and business as bytes between ticks and
    patches only the nodes that changed (admission_flat.patch): the result is what
    reading every run and reading anew gives, whatever changed, appeared or vanished
    (nodes outside the cluster included, which no byte stands for)."""
    cluster = s.cluster
    ids = cluster.node_ids()
    nodes = [*ids, "elsewhere-1"]

    def random_tick() -> tuple[dict[str, NodeRun], dict[str, Health], frozenset[str]]:
        # Often a run for every member, listed by node id (as the store lists them).
        every = rnd.random() < 0.5
        runs = {n: random_run(rnd, n) for n in (ids if every else nodes)
                if every or rnd.random() < 0.8}
        health = {n: rnd.choice(list(Health)) for n in nodes if rnd.random() < 0.8}
        return runs, health, frozenset(n for n in nodes if rnd.random() < 0.2)

    runs, health, busy = random_tick()
    kept = flat_module.facts(cluster, runs, health, busy)
    for _tick in range(6):
        new_runs, new_health, new_busy = random_tick()
        for node in rnd.sample(nodes, rnd.randint(0, len(nodes))):  # some stay as they were
            if node in runs and node in new_runs:
                new_runs[node] = runs[node]
            if node in health and node in new_health:
                new_health[node] = health[node]
        side_by_side: list[bool] = []
        moved = book_module._follow(runs, new_runs, side_by_side)
        readings = book_module._follow(health, new_health)
        in_order = (side_by_side if side_by_side and len(side_by_side) == len(new_runs)
                    and tuple(new_runs) == cluster.layout().ids else None)
        flat_module.patch(cluster, kept, new_runs, health, new_busy, moved, readings,
                          busy ^ new_busy, moved_in_order=in_order)
        busy = new_busy
        assert kept == flat_module.facts(cluster, runs, health, busy)


def test_a_run_carries_its_step_canary_and_held_in_one_byte() -> None:
    """What admission's count reads per run: the step's place in NodeStep times 4, plus
    2 when canary, plus 1 when held, kept through a transition and for a step given as
    its string value."""
    run = NodeRun("n1", NodeStep.PENDING, canary=True, held=False)
    assert run.admission_byte == list(NodeStep).index(NodeStep.PENDING) * 4 + 2
    moved = NodeRun("n1", NodeStep.PRECHECK, held=True).to(NodeStep.FAILED)
    assert moved.admission_byte == list(NodeStep).index(NodeStep.FAILED) * 4 + 1
    assert NodeRun("n1", "staged").admission_byte == (  # type: ignore[arg-type]
        list(NodeStep).index(NodeStep.STAGED) * 4)
    assert moved == NodeRun("n1", NodeStep.FAILED, held=True)  # not part of equality
