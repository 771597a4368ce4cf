"""A table of broken topologies: each one gets its own file:line: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.topology import TopologyError, load_topology, parse_topology

# A valid topology; each row below breaks one thing in it. Line numbers:
#  1 name   3 models.M1   7 clusters[0].failure_budget   9 groups[0].name
# 10 max_unavailable   12 nodes[0]
GOOD = """\
name: t
models:
  M1: {firmware: {BMC: "1.0", BIOS: "2.0"}}
emulator: {flash_seconds: 0.2}
clusters:
  - name: c
    failure_budget: 1
    groups:
      - name: g
        max_unavailable: 1
        nodes:
          - {name: "n[1-3]", model: M1}
"""

CASES: list[tuple[str, str, str, str]] = [
    ("max_unavailable is a word",
     "max_unavailable: 1", "max_unavailable: one",
     'x.yaml:10: clusters[0].groups[0].max_unavailable: must be an integer >= 1, got "one"'),
    ("max_unavailable zero",
     "max_unavailable: 1", "max_unavailable: 0",
     'x.yaml:10: clusters[0].groups[0].max_unavailable: must be an integer >= 1, got "0"'),
    ("max_unavailable above the group size",
     "max_unavailable: 1", "max_unavailable: 4",
     "x.yaml:10: clusters[0].groups[0].max_unavailable: 4 is more than the group's 3 nodes"),
    ("both limits",
     "max_unavailable: 1", "max_unavailable: 1\n        min_available: 2",
     "x.yaml:9: clusters[0].groups[0]: give exactly one of max_unavailable or min_available"),
    ("unknown cluster key",
     "failure_budget: 1", "failure_budget: 1\n    colour: red",
     "x.yaml:8: clusters[0].colour: unknown key (expected one of: autonomy, delivery, "
     "failure_budget, groups, manager, max_concurrent, name, qos)"),
    ("unknown cluster manager",
     "failure_budget: 1", "failure_budget: 1\n    manager: pacemaker",
     "x.yaml:8: clusters[0].manager: must be one of slurm; got \"pacemaker\""),
    ("unknown top-level key",
     "name: t\n", "name: t\nnodes: []\n",
     "x.yaml:2: nodes: unknown key (expected one of: clusters, defaults, description, "
     "emulator, faults, matrix, models, name, qos_classes)"),
    ("missing failure budget",
     "    failure_budget: 1\n", "",
     "x.yaml:6: clusters[0]: missing required key 'failure_budget'"),
    ("duplicate key",
     "failure_budget: 1", "failure_budget: 1\n    failure_budget: 2",
     "x.yaml:8: clusters[0].failure_budget: duplicate key"),
    ("negative failure budget",
     "failure_budget: 1", "failure_budget: -1",
     'x.yaml:7: clusters[0].failure_budget: must be an integer >= 0, got "-1"'),
    ("duplicate node names",
     '{name: "n[1-3]", model: M1}',
     '{name: "n[1-3]", model: M1}\n          - {name: n2, model: M1}',
     "x.yaml:13: clusters[0].groups[0].nodes[1].name: duplicate node name 'n2' "
     "(first declared at line 12)"),
    ("fault on an unknown node",
     "", "faults:\n  - {node: n9, kind: flash_fails}\n",
     "x.yaml:14: faults[0].node: no node named 'n9'"),
    ("unknown fault kind",
     "", "faults:\n  - {node: n1, kind: explode}\n",
     "x.yaml:14: faults[0].kind: must be one of download_fails, image_corrupt, flash_fails, "
     "task_hangs, unreachable, latency, service_unavailable, version_unchanged, reset_hangs, "
     'no_firmware_inventory, extra_systems, update_answer_slow; got "explode"'),
    ("seconds on a flash fault",
     "", "faults:\n  - {node: n1, kind: flash_fails, seconds: 2}\n",
     "x.yaml:14: faults[0].seconds: a flash_fails fault takes no seconds"),
    ("component on a latency fault",
     "", "faults:\n  - {node: n1, kind: latency, component: BIOS}\n",
     "x.yaml:14: faults[0].component: a latency fault applies to the whole BMC, "
     "not one component"),
    ("unknown unreachable mode",
     "", "faults:\n  - {node: n1, kind: unreachable, mode: sulk}\n",
     'x.yaml:14: faults[0].mode: must be one of refuse, timeout; got "sulk"'),
    ("zero count",
     "", "faults:\n  - {node: n1, kind: flash_fails, count: 0}\n",
     'x.yaml:14: faults[0].count: must be an integer >= 1, got "0"'),
    ("fault range over missing nodes",
     "", "faults:\n  - {node: \"n[3-4]\", kind: task_hangs}\n",
     "x.yaml:14: faults[0].node: no node named 'n4'"),
    ("fault on a component the node lacks",
     "", "faults:\n  - {node: n1, kind: flash_fails, component: RAID}\n",
     "x.yaml:14: faults[0].component: node 'n1' has no component 'RAID' (it has BIOS, BMC)"),
    ("version that does not parse",
     'BMC: "1.0"', 'BMC: "one"',
     "x.yaml:3: models.M1.firmware.BMC: not a version (dotted numbers like 2.3.1 "
     'or 1.4.0-b17), got "one"'),
    ("model without starting firmware",
     "model: M1}", "model: M2}",
     "x.yaml:12: clusters[0].groups[0].nodes[0].model: no starting firmware for model 'M2': "
     "give firmware here or under models.M2.firmware"),
    ("unknown delivery",
     "model: M1}", "model: M1, delivery: usb}",
     "x.yaml:12: clusters[0].groups[0].nodes[0].delivery: must be one of msc, simple_update, "
     'multipart_push; got "usb"'),
    ("unknown QoS class",
     "model: M1}", "model: M1, qos: gold}",
     'x.yaml:12: clusters[0].groups[0].nodes[0].qos: must be one of default; got "gold"'),
    ("backwards range",
     "n[1-3]", "n[3-1]",
     "x.yaml:12: clusters[0].groups[0].nodes[0].name: range [3-1] runs backwards"),
    ("unknown placeholder",
     "n[1-3]", "{rack}-n[1-3]",
     "x.yaml:12: clusters[0].groups[0].nodes[0].name: unknown placeholder {rack} "
     "(known: {cluster}, {group})"),
    ("bad characters in a name",
     "n[1-3]", "n 1",
     "x.yaml:12: clusters[0].groups[0].nodes[0].name: must give 1-63 letters, digits, '.', '_' "
     "or '-' starting with a letter or digit, got \"n 1\""),
    ("negative timing",
     "flash_seconds: 0.2", "flash_seconds: -1",
     'x.yaml:4: emulator.flash_seconds: must be a number of seconds from 0 to 3600, got "-1"'),
    ("unknown autonomy",
     "failure_budget: 1", "failure_budget: 1\n    autonomy: yolo",
     "x.yaml:8: clusters[0].autonomy: must be one of auto_approve, require_approval; "
     'got "yolo"'),
    ("groups is not a list",
     "    groups:\n      - name: g\n        max_unavailable: 1\n        nodes:\n"
     '          - {name: "n[1-3]", model: M1}\n', "    groups: g\n",
     'x.yaml:8: clusters[0].groups: must be a list, got "g"'),
    ("no clusters and no matrix",
     GOOD[GOOD.index("clusters:"):], "",
     "x.yaml:1: (top level): give 'clusters', 'matrix' or both"),
    ("YAML syntax error",
     "", "  - : [\n",
     "x.yaml:13: not valid YAML: expected <block end>, but found ':'"),
]


def test_the_base_topology_is_valid() -> None:
    assert len(parse_topology(GOOD, "x.yaml").nodes) == 3


@pytest.mark.parametrize(("description", "old", "new", "expected"), CASES,
                         ids=[case[0] for case in CASES])
def test_broken_topology_names_line_and_field(description: str, old: str, new: str,
                                              expected: str) -> None:
    text = GOOD.replace(old, new, 1) if old else GOOD + new
    assert text != GOOD, description
    with pytest.raises(TopologyError) as caught:
        parse_topology(text, "x.yaml")
    assert str(caught.value) == expected


def test_every_problem_is_reported_in_one_pass() -> None:
    text = GOOD.replace("max_unavailable: 1", "max_unavailable: one").replace(
        "flash_seconds: 0.2", "flash_seconds: soon")
    with pytest.raises(TopologyError) as caught:
        parse_topology(text, "x.yaml")
    assert [(p.line, p.field) for p in caught.value.problems] == [
        (4, "emulator.flash_seconds"), (10, "clusters[0].groups[0].max_unavailable")]


def test_a_mistake_inside_a_group_range_is_reported_once() -> None:
    text = GOOD.replace("- name: g\n", "- name: g[1-50]\n").replace("model: M1}", "model: M1, "
                                                                       "qos: gold}")
    with pytest.raises(TopologyError) as caught:
        parse_topology(text, "x.yaml")
    assert str(caught.value) == ('x.yaml:12: clusters[0].groups[0].nodes[0].qos: must be one of '
                                 'default; got "gold"')


def test_matrix_problems_name_their_field() -> None:
    text = ("name: m\nmatrix:\n  deliveries: [msc, msc]\n  models:\n"
            "    M1:\n      - {name: a, firmware: {BMC: 1.x}}\n")
    with pytest.raises(TopologyError) as caught:
        parse_topology(text, "m.yaml")
    assert str(caught.value).splitlines() == [
        "m.yaml:3: matrix.deliveries[1]: 'msc' is listed twice",
        "m.yaml:6: matrix.models.M1[0].firmware.BMC: not a version (dotted numbers like 2.3.1 "
        'or 1.4.0-b17), got "1.x"',
    ]


def test_thousands_of_problems_are_summarised(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(GOOD.replace("n[1-3]", "n[1-400]") + "  - name: d\n    failure_budget: 0\n"
        "    groups: [{name: g, max_unavailable: 1, nodes: [{name: 'n[1-400]', model: M1}]}]\n")
    with pytest.raises(TopologyError) as caught:
        load_topology(path)
    assert len(caught.value.problems) == 400
    lines = str(caught.value).splitlines()
    assert len(lines) == 26 and lines[-1] == "... and 375 more problems"
    assert lines[0].startswith(f"{path}:")
