"""Safety invariants of a rollout, checked from the emulator's audit log.

The audit log (docs/emulator.md, "Audit log format") is the BMCs' own record
of every flash, reset and media change, so these checks do not trust the
gateway's word. Used by `fleetflash lab demo`, the e2e tests and the
validation harness:

- **no node flashed twice**: per (BMC, component), at most one write reached
  ``flash_end``, and no write started while another was open or after one
  ended (a write that failed may be tried again);
- **allowance**: per redundancy group, the most nodes busy with an update at
  one instant never exceeds the group's allowance;
- **no media left inserted**: every ``media_insert`` has its ``media_eject``;
- **outcomes**: the nodes expected to fail are quarantined, every other node
  the campaign updated is done (checked against the gateway's final steps).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Record = Mapping[str, Any]
# Steps of a node the campaign left alone on purpose (not a failure, not an update).
UNTOUCHED_STEPS = frozenset({"not_applicable", "skipped"})
# Events that mean the BMC or its host is busy with an update (not boot-time power-ons).
UPDATE_EVENTS = frozenset({"media_insert", "media_eject", "flash_start", "flash_end",
                           "flash_failed", "reset", "bmc_restart"})


@dataclass(frozen=True)
class Check:
    """One invariant's verdict; `detail` says what was found (the offenders when failed)."""

    name: str
    ok: bool
    detail: str


def repeated_flashes(records: Iterable[Record]) -> dict[tuple[str, str], str]:
    """(bmc, component) -> what went wrong, for every component written more than once."""
    completed: Counter[tuple[str, str]] = Counter()
    in_progress: Counter[tuple[str, str]] = Counter()
    found: dict[tuple[str, str], str] = {}
    for record in records:
        event, component = record.get("event"), record.get("component")
        if component is None or event not in ("flash_start", "flash_end", "flash_failed"):
            continue
        key = (str(record["bmc"]), str(component))
        if event == "flash_start":
            if completed[key] or in_progress[key]:
                found[key] = "a second write started"
            in_progress[key] += 1
            continue
        # A failure may be reported twice (component and update CD); never below zero.
        in_progress[key] = max(0, in_progress[key] - 1)
        if event == "flash_end":
            completed[key] += 1
            if completed[key] > 1:
                found[key] = f"completed {completed[key]} times"
    return found


def update_spans(records: Iterable[Record]) -> dict[str, tuple[datetime, datetime]]:
    """Per BMC, from its first to its last update event: the time it was not available."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for record in records:
        if record.get("event") not in UPDATE_EVENTS:
            continue
        moment = datetime.fromisoformat(str(record["ts"]))
        bmc = str(record["bmc"])
        first, last = spans.get(bmc, (moment, moment))
        spans[bmc] = (min(first, moment), max(last, moment))
    return spans


def peak_busy_per_group(records: Iterable[Record],
                        group_of_bmc: Mapping[str, str]) -> dict[str, int]:
    """Per group, the most of its BMCs whose update spans overlap at one instant."""
    edges: list[tuple[datetime, int, str]] = []
    for bmc, (first, last) in update_spans(records).items():
        group = group_of_bmc.get(bmc, f"(unknown BMC {bmc})")
        edges += [(first, +1, group), (last, -1, group)]
    busy: Counter[str] = Counter()
    peak: dict[str, int] = defaultdict(int)
    # At the same instant an end sorts before a start: spans that only touch do not overlap.
    for _moment, change, group in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        busy[group] += change
        peak[group] = max(peak[group], busy[group])
    return dict(peak)


def media_left_inserted(records: Iterable[Record]) -> list[str]:
    """BMCs whose last media event is an insert."""
    inserted: dict[str, bool] = {}
    for record in records:
        if record.get("event") in ("media_insert", "media_eject"):
            inserted[str(record["bmc"])] = record["event"] == "media_insert"
    return sorted(bmc for bmc, still in inserted.items() if still)


def _names(items: Iterable[str], limit: int = 6) -> str:
    items = sorted(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_rollout(records: Sequence[Record], *, node_of_bmc: Mapping[str, str],
                  group_of_node: Mapping[str, str], allowance: Mapping[str, int],
                  final_steps: Mapping[str, str] | None = None,
                  expected_quarantined: Iterable[str] = ()) -> list[Check]:
    """Every invariant over `records` (one lab's audit log, oldest first).

    node_of_bmc: emulator BMC id -> node name; group_of_node: node -> redundancy group;
    allowance: group -> nodes that may be down at once; final_steps: node -> the step
    the gateway left it in (None: skip the outcome check); expected_quarantined: nodes
    that must end quarantined (all others updated must end done).
    """
    checks = []
    repeated = repeated_flashes(records)
    checks.append(Check("no node flashed twice", not repeated,
                        f"{sum(1 for r in records if r.get('event') == 'flash_end')} "
                        "component writes, none repeated" if not repeated else
                        "; ".join(f"{node_of_bmc.get(b, b)} {c}: {why}"
                                  for (b, c), why in sorted(repeated.items()))))
    group_of_bmc = {bmc: group_of_node[node] for bmc, node in node_of_bmc.items()
                    if node in group_of_node}
    peaks = peak_busy_per_group(records, group_of_bmc)
    over = {group: peak for group, peak in peaks.items() if peak > allowance.get(group, 0)}
    checks.append(Check(
        "max down per group within allowance", not over,
        f"peak {max(peaks.values(), default=0)} down in {len(peaks)} groups, allowance "
        f"{_allowance_text(allowance)}" if not over else
        "; ".join(f"{group}: {peak} down (allowance {allowance.get(group, 0)})"
                  for group, peak in sorted(over.items()))))
    left = media_left_inserted(records)
    inserts = sum(1 for r in records if r.get("event") == "media_insert")
    checks.append(Check("no media left inserted", not left,
                        f"{inserts} inserts, all ejected" if not left else
                        "still inserted on " + _names(node_of_bmc.get(b, b) for b in left)))
    if final_steps is not None:
        checks.append(_outcome_check(final_steps, set(expected_quarantined)))
    return checks


def _allowance_text(allowance: Mapping[str, int]) -> str:
    values = set(allowance.values())
    return str(values.pop()) if len(values) == 1 else "per group"


def _outcome_check(final_steps: Mapping[str, str], expected: set[str]) -> Check:
    quarantined = {node for node, step in final_steps.items() if step == "quarantined"}
    updated = {node for node, step in final_steps.items() if step not in UNTOUCHED_STEPS}
    not_done = {node for node in updated - expected if final_steps[node] != "done"}
    problems = []
    if quarantined != expected:
        problems.append(f"quarantined: {_names(quarantined) or 'none'} "
                        f"(expected {_names(expected) or 'none'})")
    if not_done:
        problems.append("not done: " + _names(f"{n} ({final_steps[n]})" for n in not_done))
    done = sum(1 for step in final_steps.values() if step == "done")
    return Check("failed node quarantined, the rest completed", not problems,
                 "; ".join(problems) or
                 f"{done} done, quarantined: {_names(quarantined) or 'none'}")
