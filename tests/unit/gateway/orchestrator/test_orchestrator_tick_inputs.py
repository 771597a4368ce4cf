"""The scheduler's per-tick inputs: unchanged rows keep their objects, so the campaign's
admission book sees exactly which nodes changed."""

from __future__ import annotations

from gateway.domain import Health, NodeRun, NodeStep
from gateway.orchestrator.tick_inputs import TickInputs

from ..domain.conftest import simple_cluster


def test_an_unchanged_row_keeps_its_run_and_a_changed_one_gets_a_new_one() -> None:
    inputs = TickInputs()
    first = inputs.runs("c1", [("n1", "pending", 0, False, False, None),
                               ("n2", "precheck", 1, True, False, None)])
    assert first == {"n1": NodeRun("n1", NodeStep.PENDING, 0),
                     "n2": NodeRun("n2", NodeStep.PRECHECK, 1, True)}
    second = inputs.runs("c1", [("n1", "pending", 0, False, False, None),
                                ("n2", "failed", 1, True, False, "precheck: Critical")])
    assert second["n1"] is first["n1"]
    assert second["n2"] == NodeRun("n2", NodeStep.FAILED, 1, True, False, "precheck: Critical")
    # Another campaign's rows are its own; a campaign no longer open is forgotten.
    assert inputs.runs("c2", [("n1", "pending", 0, False, False, None)])["n1"] is not first["n1"]
    inputs.keep_only(["c2"])
    assert inputs.runs("c1", [("n1", "pending", 0, False, False, None)])["n1"] is not first["n1"]


def test_health_is_converted_again_only_when_a_reading_changed() -> None:
    inputs = TickInputs()
    first = inputs.health("k", {"n1": "up", "n2": "down"})
    assert first == {"n1": Health.UP, "n2": Health.DOWN}
    assert inputs.health("k", {"n1": "up", "n2": "down"}) is first
    assert inputs.health("k", {"n1": "up", "n2": "up"}) == {"n1": Health.UP, "n2": Health.UP}


def test_a_redeclared_cluster_or_staging_gets_a_new_book() -> None:
    inputs = TickInputs()
    cluster = simple_cluster({"g0": (2, 1)})
    book = inputs.book("c1", cluster, staged=False)
    assert inputs.book("c1", cluster, staged=False) is book
    assert inputs.book("c1", cluster, staged=True) is not book
    assert inputs.book("c1", simple_cluster({"g0": (2, 1)}), staged=True).cluster is not cluster


def test_rows_that_shifted_position_still_give_each_node_its_own_run() -> None:
    inputs = TickInputs()
    inputs.runs("c1", [("a", "pending", 1, False, False, None),
                       ("b", "done", 1, False, False, None)])
    # A run removed and another added: same length, every position differs.
    shifted = inputs.runs("c1", [("b", "done", 1, False, False, None),
                                 ("c", "pending", 1, False, False, None)])
    assert shifted == {"b": NodeRun("b", NodeStep.DONE), "c": NodeRun("c")}
    grown = inputs.runs("c1", [
        ("b", "done", 1, False, False, None), ("c", "monitor", 1, False, False, None),
        ("d", "pending", 1, False, True, None)])
    assert grown == {"b": NodeRun("b", NodeStep.DONE), "c": NodeRun("c", NodeStep.MONITOR),
                     "d": NodeRun("d", held=True)}
