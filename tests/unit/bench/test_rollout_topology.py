"""The rollout bench's vendor mix (bench/rollout_topology.py): a shipped topology's
personalities scaled to N nodes, and the figures per personality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from emulator.cli import _read_nodes_file
from emulator.personalities import PERSONALITIES
from tests.unit.bench.scripts import bench_module


def _module() -> ModuleType:
    return bench_module("rollout_topology")


topology = _module()


def test_mixed_vendors_scaled_to_48_nodes_gives_every_personality_in_mixed_groups() -> None:
    mix = topology.vendor_mix("mixed-vendors")
    assert (mix.group_size, mix.max_unavailable) == (3, 1)
    assigned = [mix.personality_of(i) for i in range(48)]
    assert {name: assigned.count(name) for name in PERSONALITIES} == {
        name: 8 for name in PERSONALITIES}
    groups = [assigned[i:i + mix.group_size] for i in range(0, 48, mix.group_size)]
    assert all(len(set(group)) == 3 for group in groups)


def test_nodes_file_is_what_the_emulator_reads(tmp_path: Path) -> None:
    mix = topology.vendor_mix("mixed-vendors")
    specs = _read_nodes_file(topology.write_nodes_file(tmp_path / "n.json", mix, 7, "FF-X"))
    assert [(s.model, s.personality) for s in specs] == [
        ("FF-X", mix.personality_of(i)) for i in range(7)]


def test_unknown_topology_is_named_with_the_shipped_ones() -> None:
    with pytest.raises(SystemExit, match="no-such-lab.*mixed-vendors"):
        topology.vendor_mix("no-such-lab")


def test_per_personality_span_ratio_median_and_done() -> None:
    t0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    at = [t0 + timedelta(seconds=s) for s in range(200)]
    runs = [("a1", "done", at[0], at[24]), ("a2", "done", at[24], at[50]),
            ("b1", "done", at[24], at[48]), ("b2", "failed", at[50], at[90]),
            ("b3", "pending", None, None)]
    family = {"a1": "ilo", "a2": "ilo", "b1": "xcc", "b2": "xcc", "b3": "xcc"}
    figures = topology.per_personality(runs, family, 50.0)
    assert figures["ilo"] == {"nodes": 2, "done": 2, "span_s": 50.0, "ratio": 1.0,
                              "median_node_s": 25.0}
    assert figures["xcc"] == {"nodes": 3, "done": 1, "span_s": 90.0, "ratio": 1.8,
                              "median_node_s": 32.0}
