"""Building a `Topology` from YAML text, with file:line: field problems.

Section readers return None (or skip an item) when they recorded a
problem, so one pass reports everything wrong; cross-checks (duplicate
names, faults on unknown nodes) run on what was readable.
"""

from __future__ import annotations

from types import MappingProxyType

import yaml

from emulator.personalities import PERSONALITIES
from lab.topology import (
    DEFAULT_QOS,
    AutonomyPolicy,
    Cluster,
    Delivery,
    EmulatorTimings,
    Group,
    Node,
    QosClass,
    Topology,
)
from lab.topology_faults import read_faults
from lab.topology_fields import read_firmware, read_matrix, read_qos_classes, read_timings
from lab.topology_names import NamePatternError, expand, substitute
from lab.topology_yaml import NAME_PATTERN, Problem, Reader, TopologyError, join, line_of


class _Builder:
    """Reads the sections of one topology document in order."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.model_firmware: dict[str, dict[str, str]] = {}
        self.default_delivery = Delivery.MSC
        self.qos_classes: list[QosClass] = [DEFAULT_QOS]
        self.default_qos = DEFAULT_QOS.name
        self.default_model: str | None = None
        self.nodes: list[Node] = []
        self.node_fields: list[str] = []  # where each node (same index) was declared
        self.bad_models: set[str] = set()  # models whose firmware was already reported

    # -- QoS, defaults and models -------------------------------------------
    @property
    def qos_names(self) -> tuple[str, ...]:
        return tuple(qos.name for qos in self.qos_classes)

    def read_qos(self, node: yaml.Node) -> None:
        """Declared classes replace the implicit "default"; the first listed is the default."""
        classes = read_qos_classes(self.reader, node)
        if classes:
            self.qos_classes = classes
            self.default_qos = classes[0].name

    def read_defaults(self, node: yaml.Node) -> None:
        reader = self.reader
        entries = reader.mapping(node, "defaults", optional=("delivery", "qos", "model")) or {}
        if "delivery" in entries:
            value = reader.choice(entries["delivery"], "defaults.delivery", tuple(Delivery))
            self.default_delivery = Delivery(value) if value else self.default_delivery
        if "qos" in entries:
            self.default_qos = reader.choice(entries["qos"], "defaults.qos", self.qos_names) or \
                self.default_qos
        if "model" in entries:
            self.default_model = reader.name(entries["model"], "defaults.model")

    def read_models(self, node: yaml.Node) -> None:
        reader = self.reader
        for model, value_node in (reader.mapping(node, "models", any_keys=True) or {}).items():
            where = join("models", model)
            if not _valid_name(model):
                reader.fail(value_node, where, "model names are 1-63 letters, digits, '.', "
                            "'_' or '-' starting with a letter or digit")
                continue
            entries = reader.mapping(value_node, where, required=("firmware",))
            if entries and "firmware" in entries:
                firmware = read_firmware(reader, entries["firmware"], join(where, "firmware"))
                if firmware is not None:
                    self.model_firmware[model] = firmware
                    continue
            self.bad_models.add(model)

    # -- clusters, groups, nodes -------------------------------------------
    def read_clusters(self, node: yaml.Node) -> list[Cluster]:
        clusters: list[Cluster] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(self.reader.sequence(node, "clusters")):
            cluster = self.read_cluster(item, join("clusters", index))
            if cluster is None:
                continue
            if cluster.name in seen:
                self.reader.fail(item, join(join("clusters", index), "name"),
                                 f"duplicate cluster name '{cluster.name}' "
                                 f"(first at line {seen[cluster.name]})")
                continue
            seen[cluster.name] = line_of(item)
            clusters.append(cluster)
        return clusters

    def read_cluster(self, node: yaml.Node, field: str) -> Cluster | None:
        reader = self.reader
        entries = reader.mapping(node, field, required=("name", "failure_budget", "groups"),
                                 optional=("autonomy", "qos", "delivery", "max_concurrent",
                                           "manager"))
        if entries is None or "name" not in entries:
            return None
        name = reader.name(entries["name"], join(field, "name"))
        budget = (reader.integer(entries["failure_budget"], join(field, "failure_budget"))
                  if "failure_budget" in entries else None)
        autonomy: str | None = AutonomyPolicy.AUTO_APPROVE
        if "autonomy" in entries:
            autonomy = reader.choice(entries["autonomy"], join(field, "autonomy"),
                                     tuple(AutonomyPolicy))
        max_concurrent = None
        if "max_concurrent" in entries:
            max_concurrent = reader.integer(entries["max_concurrent"],
                                            join(field, "max_concurrent"), minimum=1)
        qos = (reader.choice(entries["qos"], join(field, "qos"), self.qos_names)
               if "qos" in entries else self.default_qos)
        delivery = self.default_delivery
        if "delivery" in entries:
            value = reader.choice(entries["delivery"], join(field, "delivery"), tuple(Delivery))
            delivery = Delivery(value) if value else delivery
        manager = (reader.choice(entries["manager"], join(field, "manager"), ("slurm",))
                   if "manager" in entries else None)
        if name is None or "groups" not in entries:
            return None
        groups: list[Group] = []
        seen: set[str] = set()
        for index, item in enumerate(reader.sequence(entries["groups"], join(field, "groups"))):
            for group in self.read_group(item, join(join(field, "groups"), index), name,
                                         qos or self.default_qos, delivery):
                if group.name in seen:
                    reader.fail(item, join(join(field, "groups"), index),
                                f"duplicate group name '{group.name}' in cluster '{name}'")
                seen.add(group.name)
                groups.append(group)
        if budget is None or autonomy is None:
            return None
        return Cluster(name=name, groups=tuple(groups), failure_budget=budget,
                       autonomy=AutonomyPolicy(autonomy), max_concurrent=max_concurrent,
                       manager=manager)

    def read_group(self, node: yaml.Node, field: str, cluster: str, qos: str,
                   delivery: Delivery) -> list[Group]:
        """One group entry; a range in its name gives several identical groups."""
        reader = self.reader
        entries = reader.mapping(node, field, required=("name", "nodes"),
                                 optional=("max_unavailable", "min_available"))
        if entries is None or "name" not in entries or "nodes" not in entries:
            return []
        max_unavailable = min_available = None
        if "max_unavailable" in entries:
            max_unavailable = reader.integer(entries["max_unavailable"],
                                             join(field, "max_unavailable"), minimum=1)
        if "min_available" in entries:
            min_available = reader.integer(entries["min_available"],
                                           join(field, "min_available"))
        if ("max_unavailable" in entries) == ("min_available" in entries):
            reader.fail(node, field, "give exactly one of max_unavailable or min_available")
            return []
        pattern = reader.text(entries["name"], join(field, "name"))
        if pattern is None:
            return []
        names = self.expand_name(pattern, entries["name"], join(field, "name"),
                                 {"cluster": cluster})
        groups = []
        for group_name in names:
            members = self.read_group_nodes(entries["nodes"], join(field, "nodes"), cluster,
                                            group_name, qos, delivery)
            if max_unavailable is not None and max_unavailable > len(members) > 0:
                reader.fail(entries["max_unavailable"], join(field, "max_unavailable"),
                            f"{max_unavailable} is more than the group's {len(members)} nodes")
            if min_available is not None and min_available > len(members) > 0:
                reader.fail(entries["min_available"], join(field, "min_available"),
                            f"{min_available} is more than the group's {len(members)} nodes")
            if max_unavailable is None and min_available is None:
                continue
            groups.append(Group(name=group_name, nodes=tuple(members),
                                max_unavailable=max_unavailable, min_available=min_available))
        return groups

    def read_group_nodes(self, node: yaml.Node, field: str, cluster: str, group: str,
                         qos: str, delivery: Delivery) -> list[str]:
        names: list[str] = []
        for index, item in enumerate(self.reader.sequence(node, field)):
            where = join(field, index)
            for member in self.read_node(item, where, cluster, group, qos, delivery):
                self.nodes.append(member)
                self.node_fields.append(join(where, "name"))
                names.append(member.name)
        return names

    def read_node(self, node: yaml.Node, field: str, cluster: str, group: str, qos: str,
                  delivery: Delivery) -> list[Node]:
        """One node entry; a range in its name gives several nodes alike."""
        reader = self.reader
        entries = reader.mapping(node, field, required=("name",),
                                 optional=("model", "firmware", "delivery", "qos",
                                           "personality"))
        if entries is None or "name" not in entries:
            return []
        model = self.default_model
        if "model" in entries:
            model = reader.name(entries["model"], join(field, "model"))
            if model is None:
                return []
        elif model is None:
            reader.fail(node, field, "missing required key 'model' (and no defaults.model)")
            return []
        firmware = dict(self.model_firmware.get(model, {}))
        if "firmware" in entries:
            overrides = read_firmware(reader, entries["firmware"], join(field, "firmware"))
            if overrides is None:
                return []
            firmware.update(overrides)
        if not firmware:
            if model not in self.bad_models:
                reader.fail(entries.get("model", node), join(field, "model"),
                            f"no starting firmware for model '{model}': give firmware here "
                            f"or under models.{model}.firmware")
            return []
        if "delivery" in entries:
            value = reader.choice(entries["delivery"], join(field, "delivery"), tuple(Delivery))
            if value is None:
                return []
            delivery = Delivery(value)
        if "qos" in entries:
            value = reader.choice(entries["qos"], join(field, "qos"), self.qos_names)
            if value is None:
                return []
            qos = value
        personality = None
        if "personality" in entries:
            personality = reader.choice(entries["personality"], join(field, "personality"),
                                        PERSONALITIES)
            if personality is None:
                return []
        pattern = reader.text(entries["name"], join(field, "name"))
        if pattern is None:
            return []
        names = self.expand_name(pattern, entries["name"], join(field, "name"),
                                 {"cluster": cluster, "group": group})
        frozen = MappingProxyType(firmware)
        return [Node(name=name, model=model, firmware=frozen, delivery=delivery, qos=qos,
                     cluster=cluster, group=group, line=line_of(entries["name"]),
                     personality=personality)
                for name in names]

    def expand_name(self, pattern: str, node: yaml.Node, field: str,
                    values: dict[str, str]) -> list[str]:
        """Placeholders, then one range; each resulting name must be a valid name."""
        try:
            names = expand(substitute(pattern, values))
        except NamePatternError as exc:
            self.reader.fail(node, field, str(exc))
            return []
        bad = [name for name in names if not _valid_name(name)]
        if bad:
            self.reader.fail(node, field, "must give 1-63 letters, digits, '.', '_' or '-' "
                             f"starting with a letter or digit, got \"{bad[0]}\"")
            return []
        return names

    def check_duplicate_nodes(self) -> None:
        first: dict[str, Node] = {}
        for member, field in zip(self.nodes, self.node_fields, strict=True):
            if member.name in first:
                self.reader.problems.append(Problem(
                    self.reader.file, member.line, field, f"duplicate node name "
                    f"'{member.name}' (first declared at line {first[member.name].line})"))
            else:
                first[member.name] = member


def _valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


TOP_LEVEL_REQUIRED = ("name",)
TOP_LEVEL_OPTIONAL = ("description", "emulator", "qos_classes", "defaults", "models", "clusters",
                      "faults", "matrix")


def build_topology(text: str, file: str) -> Topology:
    """Parse and validate a topology document; raises TopologyError with every problem."""
    reader = Reader(file)
    root = reader.compose(text)
    if root is None:
        if not reader.problems:
            reader.fail(None, "", "the file is empty")
        raise TopologyError(reader.problems)
    entries = reader.mapping(root, "", required=TOP_LEVEL_REQUIRED, optional=TOP_LEVEL_OPTIONAL)
    if entries is None:
        raise TopologyError(reader.problems)
    builder = _Builder(reader)
    name = reader.name(entries["name"], "name") if "name" in entries else None
    description = ""
    if "description" in entries:
        description = reader.text(entries["description"], "description") or ""
    timings = read_timings(reader, entries["emulator"]) if "emulator" in entries else \
        EmulatorTimings()
    if "qos_classes" in entries:
        builder.read_qos(entries["qos_classes"])
    if "defaults" in entries:
        builder.read_defaults(entries["defaults"])
    if "models" in entries:
        builder.read_models(entries["models"])
    clusters = builder.read_clusters(entries["clusters"]) if "clusters" in entries else []
    builder.check_duplicate_nodes()
    faults = read_faults(reader, entries["faults"], builder.nodes) if "faults" in entries else []
    matrix = read_matrix(reader, entries["matrix"]) if "matrix" in entries else None
    if "clusters" not in entries and "matrix" not in entries:
        reader.fail(root, "(top level)", "give 'clusters', 'matrix' or both")
    if reader.problems:
        # An entry inside a group with a range is read once per group: report it once.
        unique = dict.fromkeys(reader.problems)
        raise TopologyError(sorted(unique, key=lambda problem: problem.line))
    assert name is not None
    return Topology(name=name, source=file, clusters=tuple(clusters), nodes=tuple(builder.nodes),
                    qos_classes=tuple(builder.qos_classes), emulator=timings,
                    faults=tuple(faults), matrix=matrix, description=description)
