"""Where a rollout's time went: each node's update split at the moments the emulator's
audit log and the gateway's records share, so the makespan's excess over the lower
bound is charged to the gateway or to the emulated BMCs.

Per node (MSC delivery, immediate activation):

- ``gateway_before_s``: the run started (PRECHECK) -> the update CD inserted (the
  gateway's PRECHECK and DELIVER; the media insert is the first thing a BMC sees);
- ``bmc_s``: the CD inserted -> the host's last power-on (reset to the CD, the flashes,
  the BMC restart, the reset back to disk): the emulator's part, at least
  ``per_node_min_s`` (the bench's configured minimum);
- ``gateway_after_s``: that power-on -> the run finished (the gateway noticing the
  BMC back, WAIT_BACK's good answers, VERIFY, EJECT, POSTCHECK);
- ``slot_wait_s``: per redundancy group, a node's start after the group's slot freed
  (the finish of the node whose place it took): admission's part. The first
  ``max_unavailable`` starts of a group, and the first start after the canary wave
  (it waits for every canary of the cluster, by design), are not counted.

Each is printed as median, 90th percentile and mean; ``per_slot_excess_s`` is the mean
of the four less the configured minimum: the excess one node slot carries, which the
waves add up. ``steps_s``: the time the nodes spent in each step. ``critical_path``:
the chain of nodes behind the last finish, walked back through the slots they freed to
the campaign's first start; per node its wait for the slot and its three parts, so the
makespan is read as a sum. ``by_family`` (a topology of several BMC families): the
median of each of the three parts per family.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

PARTS = ("gateway_before_s", "bmc_s", "gateway_after_s")


def _summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 2),
            "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
            "mean": round(statistics.fmean(ordered), 2)}


def _emulator_moments(audit: Path) -> dict[str, tuple[datetime, datetime]]:
    """Per BMC: its first media insert and the host's last power-on after it."""
    inserted: dict[str, datetime] = {}
    powered: dict[str, datetime] = {}
    for line in audit.read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        bmc, event = record["bmc"], record["event"]
        if event == "media_insert" and bmc not in inserted:
            inserted[bmc] = datetime.fromisoformat(record["ts"])
        elif event == "power" and record.get("state") == "On" and bmc in inserted:
            powered[bmc] = datetime.fromisoformat(record["ts"])
    return {bmc: (at, powered[bmc]) for bmc, at in inserted.items() if bmc in powered}


def _slot_waits(runs: Iterable[tuple[str, datetime, datetime]], group_of: dict[str, str],
                max_unavailable: int, canary_end: datetime | None) -> list[float]:
    """Each start of a group after its first ``max_unavailable``: the wait since the
    finish it waited for (the k-th finish of the group for its (k + m)-th start)."""
    starts: dict[str, list[datetime]] = defaultdict(list)
    finishes: dict[str, list[datetime]] = defaultdict(list)
    for node, started, finished in runs:
        starts[group_of[node]].append(started)
        finishes[group_of[node]].append(finished)
    waits = []
    for group, begun in starts.items():
        begun.sort()
        ended = sorted(finishes[group])
        for index in range(max_unavailable, len(begun)):
            freed = ended[index - max_unavailable]
            if canary_end is not None and freed <= canary_end < begun[index]:
                continue  # waited for the whole canary wave, not for its slot
            waits.append(max(0.0, (begun[index] - freed).total_seconds()))
    return waits


def _step_figures(spans: Iterable[tuple[str, str, datetime, datetime | None]],
                  moments: dict[str, tuple[datetime, datetime]]) -> dict[str, Any]:
    """Per node step, how long the nodes spent in it (node, step, started, ended); for
    MONITOR also ``monitor_after_power_on``: from the host's last power-on (every
    version in place) to MONITOR's end, i.e. how late the gateway noticed."""
    durations: dict[str, list[float]] = defaultdict(list)
    for node, step, started, ended in spans:
        if ended is None:
            continue
        durations[step].append((ended - started).total_seconds())
        if step == "monitor" and node in moments:
            durations["monitor_after_power_on"].append(
                (ended - moments[node][1]).total_seconds())
    return {step: _summary(values) for step, values in durations.items()}


def _parts(node: str, started: datetime, finished: datetime,
           moments: dict[str, tuple[datetime, datetime]]) -> tuple[float, float, float] | None:
    """The node's three parts (PARTS), None when the audit log lacks its moments."""
    if node not in moments:
        return None
    inserted, powered = moments[node]
    return ((inserted - started).total_seconds(), (powered - inserted).total_seconds(),
            (finished - powered).total_seconds())


def _critical_path(runs: list[tuple[str, datetime, datetime]], group_of: dict[str, str],
                   max_unavailable: int, moments: dict[str, tuple[datetime, datetime]],
                   canaries: set[str]) -> list[dict[str, Any]]:
    """The nodes behind the last finish, first to last (see the module doc)."""
    if not runs:
        return []
    first = min(started for _n, started, _f in runs)
    by_group: dict[str, list[tuple[str, datetime, datetime]]] = defaultdict(list)
    for run in runs:
        by_group[group_of[run[0]]].append(run)
    node, started, finished = max(runs, key=lambda r: r[2])
    chain = []
    while True:
        members = by_group[group_of[node]]
        begun = sorted(members, key=lambda r: r[1])
        ended = sorted(members, key=lambda r: r[2])
        index = next(i for i, r in enumerate(begun) if r[0] == node)
        before = ended[index - max_unavailable] if index >= max_unavailable else None
        if before is None and node not in canaries:
            # A group's first starts wait for the canary wave: its last canary.
            gate = [r for r in runs if r[0] in canaries and r[2] <= started]
            before = max(gate, key=lambda r: r[2]) if gate else None
        freed = before[2] if before is not None else first
        entry: dict[str, Any] = {"node": node,
                                 "wait_s": round((started - freed).total_seconds(), 2)}
        parts = _parts(node, started, finished, moments)
        if parts is not None:
            entry |= {name.removeprefix("gateway_"): round(value, 2)
                      for name, value in zip(PARTS, parts, strict=True)}
        chain.append(entry)
        if before is None or before[2] > started:
            break
        node, started, finished = before
    return chain[::-1]


def _by_gateway(runs: list[tuple[str, datetime, datetime]],
                spans: Iterable[tuple[str, str, datetime, datetime | None]],
                moments: dict[str, tuple[datetime, datetime]],
                driver_of: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per gateway: its nodes, the means of their parts and of their steps' durations."""
    parts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for node, started, finished in runs:
        found = _parts(node, started, finished, moments)
        if found is not None and node in driver_of:
            for name, value in zip(PARTS, found, strict=True):
                parts[driver_of[node]][name].append(value)
    steps: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for node, step, started, ended in spans:
        if ended is not None and node in driver_of and step != "monitor":
            steps[driver_of[node]][step].append((ended - started).total_seconds())
    return {gateway: {"nodes": len(parts[gateway]["bmc_s"])}
            | {name: round(statistics.fmean(values), 2)
               for name, values in parts[gateway].items()}
            | {"steps": {step: round(statistics.fmean(values), 2)
                         for step, values in steps[gateway].items()}}
            for gateway in sorted(parts)}


def timeline(runs: Iterable[tuple[str, datetime | None, datetime | None]], audit: Path,
             group_of: dict[str, str], *, max_unavailable: int, per_node_min_s: float,
             canary_nodes: set[str],
             spans: Iterable[tuple[str, str, datetime, datetime | None]] = (),
             family_of: dict[str, str] | None = None,
             driver_of: dict[str, str] | None = None) -> dict[str, Any]:
    """The figures of the module doc, from the runs (node, started, finished) of a
    campaign whose nodes are named like the emulator's BMCs. With ``driver_of`` (node ->
    the gateway that drove it), ``by_gateway``: per gateway the means of the three parts
    and of each step, so the fleet's excess is charged to the member that carries it."""
    moments = _emulator_moments(audit)
    finished_runs: list[tuple[str, datetime, datetime]] = [
        (node, started, finished) for node, started, finished in runs
                     if started is not None and finished is not None]
    overall: dict[str, list[float]] = {name: [] for name in PARTS}
    families: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for node, started, finished in finished_runs:
        parts = _parts(node, started, finished, moments)
        if parts is None:
            continue
        for name, value in zip(PARTS, parts, strict=True):
            overall[name].append(value)
            if family_of is not None:
                families[family_of[node]][name].append(value)
    canaries = [finished for node, _s, finished in finished_runs if node in canary_nodes]
    waits = _slot_waits(finished_runs, group_of, max_unavailable,
                        max(canaries) if canaries else None)
    every = {**overall, "slot_wait_s": waits}
    figures: dict[str, Any] = {name: _summary(values) for name, values in every.items()}
    figures["steps_s"] = _step_figures(spans, moments)
    if family_of is not None:  # medians per BMC family (their groups mix families)
        figures["by_family"] = {family: {name: _summary(values)["median"]
                                         for name, values in parts_of.items()}
                                for family, parts_of in sorted(families.items())}
    if driver_of is not None:
        figures["by_gateway"] = _by_gateway(finished_runs, spans, moments, driver_of)
    figures["critical_path"] = _critical_path(finished_runs, group_of, max_unavailable,
                                              moments, canary_nodes)
    means = [statistics.fmean(values) for values in every.values() if values]
    if len(means) == len(every):
        figures["per_slot_excess_s"] = round(sum(means) - per_node_min_s, 2)
    return figures
