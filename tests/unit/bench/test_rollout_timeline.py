"""Where a rollout's time went (bench/rollout_timeline.py): each node split at the
moments the emulator's audit log and the gateway's records share, the waits for a
group's slot, and the critical path, which adds up to the makespan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.unit.bench.scripts import bench_module

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def _module() -> ModuleType:
    return bench_module("rollout_timeline")


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# node: (started, CD inserted, host's last power-on, finished), seconds from T0.
NODES = {
    "canary": (0.0, 0.5, 24.5, 25.0),
    "a": (25.5, 26.5, 50.5, 53.5),  # after 3 s
    "b": (25.5, 26.0, 50.0, 51.0),
    "c": (51.5, 52.0, 76.0, 77.0),  # b's slot, 0.5 s later
    "d": (54.5, 56.5, 80.5, 81.0),  # a's slot, 1 s later, 2 s before the insert
}
GROUP = {"canary": "g0", "a": "g1", "b": "g1", "c": "g1", "d": "g1"}


def _figures(tmp_path: Path, **extra: object) -> dict[str, Any]:
    records = []
    for node, (_started, inserted, powered, _finished) in NODES.items():
        records += [{"ts": _at(inserted).isoformat(), "bmc": node, "event": "media_insert"},
                    {"ts": _at(inserted + 0.1).isoformat(), "bmc": node, "event": "power",
                     "state": "On"},  # the reset to the CD: not the last power-on
                    {"ts": _at(powered).isoformat(), "bmc": node, "event": "power",
                     "state": "On"}]
    audit = tmp_path / "audit.jsonl"
    audit.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    runs = [(node, _at(s), _at(f)) for node, (s, _i, _p, f) in NODES.items()]
    spans = [(node, "monitor", _at(i), _at(p + 0.25)) for node, (_s, i, p, _f) in NODES.items()]
    spans += [(node, "precheck", _at(s), _at(i)) for node, (s, i, _p, _f) in NODES.items()]
    figures: dict[str, Any] = _module().timeline(
        runs, audit, GROUP, max_unavailable=2, per_node_min_s=24.0,
        canary_nodes={"canary"}, spans=spans, **extra)
    return figures


def test_each_node_is_split_and_slot_waits_counted(tmp_path: Path) -> None:
    figures = _figures(tmp_path)
    assert figures["bmc_s"] == {"median": 24.0, "p90": 24.0, "mean": 24.0}
    assert figures["gateway_after_s"] == {"median": 1.0, "p90": 3.0, "mean": 1.2}
    assert figures["gateway_before_s"]["p90"] == 2.0
    # c waited 0.5 s for b's slot, d 1 s for a's; a and b (the group's first two) and
    # the wait for the canary wave are not slot waits.
    assert figures["slot_wait_s"] == {"median": 0.75, "p90": 1.0, "mean": 0.75}
    assert figures["steps_s"]["monitor_after_power_on"]["median"] == 0.25


def test_the_critical_path_adds_up_to_the_makespan(tmp_path: Path) -> None:
    path = _figures(tmp_path)["critical_path"]
    assert [entry["node"] for entry in path] == ["canary", "a", "d"]
    total = sum(entry["wait_s"] + entry["before_s"] + entry["bmc_s"] + entry["after_s"]
                for entry in path)
    assert round(total, 2) == 81.0  # first start (0) to last finish (81)
    assert path[1]["wait_s"] == 0.5  # a after the canary's finish


def test_parts_per_family(tmp_path: Path) -> None:
    family = {"canary": "dmtf", "a": "idrac", "b": "ilo", "c": "ilo", "d": "idrac"}
    by_family = _figures(tmp_path, family_of=family)["by_family"]
    assert by_family["idrac"] == {
        "gateway_before_s": 1.5, "bmc_s": 24.0, "gateway_after_s": 1.75}
    assert set(by_family) == {"dmtf", "idrac", "ilo"}


def test_parts_and_steps_per_gateway(tmp_path: Path) -> None:
    # a and d on the second gateway: before 1 and 2 s, after 3 and 0.5 s; MONITOR
    # (the BMC's own part, mostly) is left out of the steps.
    driver = {"canary": "gw-1", "a": "gw-2", "b": "gw-1", "c": "gw-1", "d": "gw-2"}
    by_gateway = _figures(tmp_path, driver_of=driver)["by_gateway"]
    assert by_gateway["gw-2"] == {"nodes": 2, "gateway_before_s": 1.5, "bmc_s": 24.0,
                                  "gateway_after_s": 1.75, "steps": {"precheck": 1.5}}
    assert by_gateway["gw-1"]["nodes"] == 3
    assert _figures(tmp_path).get("by_gateway") is None
