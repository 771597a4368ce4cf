"""A lab topology's vendor mix scaled to the rollout bench's N nodes, and the figures per
BMC personality (bench/rollout.py --topology NAME).

The topology file gives the pattern, not the fleet: its nodes' personalities in file
order (cluster by cluster, group by group) are repeated over the N bench nodes, so the
bench's consecutive groups mix vendors the way the topology's groups do, and every
personality has about N / len(pattern) x (its share of the pattern) nodes. The group
shape (nodes per group, nodes down at once) is the topology's too, unless given on the
command line. What the bench does not take from the topology: its models, starting
versions, clusters and deliveries (the bench has one cluster, its own bundle and model,
and delivers as --activation says), so the plan's lower bound keeps its meaning.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.topology import load_topology

TOPOLOGIES = Path(__file__).resolve().parent.parent / "lab" / "topologies"


@dataclass(frozen=True)
class VendorMix:
    """The topology's personalities in file order, and its group shape: the nodes of its
    largest group, and the fewest nodes of a group down at once."""

    pattern: tuple[str, ...]
    group_size: int
    max_unavailable: int

    def personality_of(self, index: int) -> str:
        return self.pattern[index % len(self.pattern)]


def vendor_mix(name: str) -> VendorMix:
    """The mix of the shipped topology ``name`` (or a topology file's path); SystemExit
    naming the problem when there is no such topology or it has no groups."""
    path = Path(name) if Path(name).suffix else TOPOLOGIES / f"{name}.yaml"
    if not path.exists():
        shipped = sorted(p.stem for p in TOPOLOGIES.glob("*.yaml"))
        raise SystemExit(f"--topology {name}: no such topology; shipped: {', '.join(shipped)}")
    topology = load_topology(path)
    by_name = {node.name: node for node in topology.nodes}
    groups = [group for cluster in topology.clusters for group in cluster.groups]
    pattern = tuple(by_name[n].personality or "dmtf" for g in groups for n in g.nodes)
    if not pattern:
        raise SystemExit(f"--topology {name}: the topology has no grouped nodes")
    limits = [g.max_unavailable for g in groups if g.max_unavailable is not None]
    return VendorMix(pattern, max(len(g.nodes) for g in groups),
                     min(limits) if limits else 1)


def write_nodes_file(path: Path, mix: VendorMix, nodes: int, model: str) -> Path:
    """`fleetflash emulator serve --nodes-file` input: BMC i presents mix.personality_of(i)."""
    path.write_text(json.dumps([{"model": model, "personality": mix.personality_of(i)}
                                for i in range(nodes)]))
    return path


def per_personality(runs: list[tuple[str, str, datetime | None, datetime | None]],
                    personality_of: dict[str, str], lower_bound: float) -> dict[str, Any]:
    """Per personality, from (node, step, started, finished) runs: nodes, done (versions
    read back), the span from the rollout's first node started to the family's last node
    finished, that span over the fleet-wide lower bound, and the family's median node
    duration. The plan's lower bound is fleet-wide (a family's nodes share waves with
    the others), so a family's span is compared with it, not with a bound of its own."""
    starts = [started for _node, _step, started, _finished in runs if started]
    if not starts:
        return {}
    begin = min(starts)
    families: dict[str, list[tuple[str, datetime | None, datetime | None]]] = defaultdict(list)
    for node, step, started, finished in runs:
        families[personality_of[node]].append((step, started, finished))
    figures: dict[str, Any] = {}
    for family, members in sorted(families.items()):
        ends = [finished for _step, started, finished in members if started and finished]
        durations = [(finished - started).total_seconds()
                     for _step, started, finished in members if started and finished]
        span = (max(ends) - begin).total_seconds() if ends else None
        figures[family] = {
            "nodes": len(members), "done": sum(1 for step, _s, _f in members if step == "done"),
            "span_s": round(span, 2) if span is not None else None,
            "ratio": round(span / lower_bound, 3) if span is not None and lower_bound else None,
            "median_node_s": round(statistics.median(durations), 2) if durations else None}
    return figures
