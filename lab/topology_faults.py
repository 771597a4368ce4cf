"""The topology's `faults:` section, checked against the emulator's own fault rules."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from emulator.errors import ConfigError
from emulator.faults import FaultKind, make_fault
from lab.topology import Fault, Node
from lab.topology_names import NamePatternError, expand
from lab.topology_yaml import NAME_PATTERN, Reader, join

# Which optional parameter each kind takes (emulator/faults.py documents the effects).
COMPONENT_FAULTS = {FaultKind.DOWNLOAD_FAILS, FaultKind.IMAGE_CORRUPT, FaultKind.FLASH_FAILS}
SECONDS_FAULTS = {FaultKind.LATENCY, FaultKind.SERVICE_UNAVAILABLE,
                  FaultKind.UPDATE_ANSWER_SLOW}
MODE_FAULTS = {FaultKind.UNREACHABLE}
UNREACHABLE_MODES = ("refuse", "timeout")


def read_faults(reader: Reader, node: yaml.Node, nodes: Sequence[Node]) -> list[Fault]:
    """Every fault entry, expanded over node ranges; unknown nodes are problems."""
    known = {member.name: member for member in nodes}
    faults: list[Fault] = []
    for index, item in enumerate(reader.sequence(node, "faults", allow_empty=True)):
        faults.extend(_read_fault(reader, item, join("faults", index), known))
    return faults


def _read_fault(reader: Reader, node: yaml.Node, field: str,
                known: dict[str, Node]) -> list[Fault]:
    entries = reader.mapping(node, field, required=("node", "kind"),
                             optional=("component", "count", "seconds", "mode"))
    if entries is None or "node" not in entries or "kind" not in entries:
        return []
    value = reader.choice(entries["kind"], join(field, "kind"), tuple(FaultKind))
    kind = FaultKind(value) if value else None
    component = count = seconds = mode = None
    if "component" in entries:
        component = reader.text(entries["component"], join(field, "component"))
        _only_for(reader, entries["component"], join(field, "component"), kind,
                  COMPONENT_FAULTS, "applies to the whole BMC, not one component")
    if "count" in entries:
        count = reader.integer(entries["count"], join(field, "count"), minimum=1)
    if "seconds" in entries:
        seconds = reader.seconds(entries["seconds"], join(field, "seconds"))
        _only_for(reader, entries["seconds"], join(field, "seconds"), kind, SECONDS_FAULTS,
                  "takes no seconds")
    if "mode" in entries:
        mode = reader.choice(entries["mode"], join(field, "mode"), UNREACHABLE_MODES)
        _only_for(reader, entries["mode"], join(field, "mode"), kind, MODE_FAULTS,
                  "takes no mode")
    pattern = reader.text(entries["node"], join(field, "node"))
    if kind is None or pattern is None:
        return []
    try:
        names = expand(pattern)
    except NamePatternError as exc:
        reader.fail(entries["node"], join(field, "node"), str(exc))
        return []
    faults = []
    for name in names:
        member = known.get(name) if NAME_PATTERN.match(name) else None
        if member is None:
            reader.fail(entries["node"], join(field, "node"), f"no node named '{name}'")
            continue
        if component is not None and component not in member.firmware:
            have = ", ".join(sorted(member.firmware))
            reader.fail(entries["component"], join(field, "component"),
                        f"node '{name}' has no component '{component}' (it has {have})")
            continue
        faults.append(Fault(node=name, kind=kind, component=component, count=count,
                            seconds=seconds, mode=mode))
    for fault in faults[:1]:
        try:  # the emulator's rules are the final word on what it can inject
            make_fault(fault.kind, fault.params)
        except ConfigError as exc:
            reader.fail(node, field, f"the emulator refuses this fault: {exc}")
            return []
    return faults


def _only_for(reader: Reader, node: yaml.Node, field: str, kind: FaultKind | None,
              kinds: set[FaultKind], message: str) -> None:
    if kind is not None and kind not in kinds:
        reader.fail(node, field, f"a {kind} fault {message}")
