"""plan_waves: the waves of a running campaign's remaining nodes (reservation mode)."""

from __future__ import annotations

from gateway.domain import Health, plan_waves

from .conftest import SLOT, START, all_up, simple_cluster


def test_canaries_first_then_the_others_by_group_allowance_one_slot_apart() -> None:
    cluster = simple_cluster({"g0": (5, 2), "g1": (3, 1)})
    others = [n for n in cluster.node_ids() if n != "g0-0"]
    waves = plan_waves(cluster, ["g0-0"], others, all_up(cluster), start=START, slot=SLOT)
    assert [(w.canary, w.node_ids) for w in waves] == [
        (True, ("g0-0",)),
        (False, ("g0-1", "g0-2", "g1-0")),
        (False, ("g0-3", "g0-4", "g1-1")),
        (False, ("g1-2",)),
    ]
    assert [w.starts_at for w in waves] == [START + i * SLOT for i in range(4)]


def test_nodes_not_up_or_in_a_group_without_room_are_left_for_a_later_plan() -> None:
    cluster = simple_cluster({"g0": (3, 1), "g1": (3, 1)})
    health = all_up(cluster) | {"g0-2": Health.DOWN}  # g0's one slot is taken
    waves = plan_waves(cluster, [], ["g0-0", "g0-1", "g1-0", "g1-1"], health, start=START,
                       slot=SLOT)
    assert [w.node_ids for w in waves] == [("g1-0",), ("g1-1",)]


def test_nothing_to_plan_is_no_wave() -> None:
    cluster = simple_cluster({"g0": (2, 1)})
    assert plan_waves(cluster, [], [], all_up(cluster), start=START, slot=SLOT) == ()
