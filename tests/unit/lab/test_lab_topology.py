"""Every shipped topology loads, and says what the lab and validation rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_payloads import parse_version
from lab.topology import Delivery, FaultKind, TopologyError, load_topology
from lab.topology_domain import domain_clusters

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted((ROOT / "lab" / "topologies").glob("*.yaml"))
FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.yaml"))


def test_the_three_required_topologies_are_shipped() -> None:
    assert {path.name for path in SHIPPED} >= {"demo.yaml", "rack-1000.yaml", "matrix.yaml"}


@pytest.mark.parametrize("path", SHIPPED + FIXTURES, ids=lambda path: path.name)
def test_topology_loads_and_maps_onto_the_gateway_cluster_model(path: Path) -> None:
    topology = load_topology(path)
    clusters = domain_clusters(topology)
    assert [cluster.name for cluster in clusters] == [c.name for c in topology.clusters]
    for cluster in clusters:
        for group in cluster.group_names():
            assert cluster.allowance(group) >= 1, f"{group} could never be updated"
    for node in topology.nodes:
        assert node.firmware, node.name
        for version in node.firmware.values():
            parse_version(version)


def test_demo_is_two_clusters_of_24_nodes_in_groups_of_three() -> None:
    demo = load_topology(ROOT / "lab/topologies/demo.yaml")
    assert len(demo.clusters) == 2
    assert len(demo.nodes) == 24
    assert len(demo.models) == 3
    groups = [group for cluster in demo.clusters for group in cluster.groups]
    assert [len(group.nodes) for group in groups] == [3] * 8
    assert {group.max_unavailable for group in groups} == {1}
    assert all(node.delivery is Delivery.MSC for node in demo.nodes)
    assert [(f.node, f.kind) for f in demo.faults] == [("web-r2-3", FaultKind.FLASH_FAILS)]


def test_demo_models_and_starting_versions_are_older_than_the_sample_bundle() -> None:
    from firmware_payloads import BundleSpec

    spec = BundleSpec.from_yaml(ROOT / "firmware_payloads/samples/quarterly-2026q4.yaml")
    demo = load_topology(ROOT / "lab/topologies/demo.yaml")
    bundle_models = {model for package in spec.packages for model in package.models}
    assert set(demo.models) <= bundle_models
    for node in demo.nodes:
        for package in spec.packages:
            if node.model in package.models and package.component in node.firmware:
                installed = parse_version(node.firmware[package.component])
                assert installed < parse_version(package.version), (node.name, package.id)


def test_rack_1000_has_1000_uniquely_named_nodes() -> None:
    rack = load_topology(ROOT / "lab/topologies/rack-1000.yaml")
    names = [node.name for node in rack.nodes]
    assert len(names) == len(set(names)) == 1000
    assert names[0] == "hall-a-g001-n01" and names[-1] == "hall-b-g050-n10"
    assert rack.node("hall-b-g050-n10").model == "FF-4U-X900"


def test_matrix_lists_every_model_start_and_delivery() -> None:
    matrix = load_topology(ROOT / "lab/topologies/matrix.yaml").matrix
    assert matrix is not None
    assert set(matrix.deliveries) == set(Delivery)
    assert {"FF-1U-R450", "FF-2U-R750", "FF-4U-X900"} <= set(matrix.model_names)
    combinations = matrix.combinations()
    starts = sum(len(entry.starting) for entry in matrix.models)
    assert len(combinations) == starts * 3
    assert len({combination.key for combination in combinations}) == len(combinations)
    assert combinations[0].key == "FF-1U-R450/previous/simple_update"


def test_canary_fixture_fails_every_node_of_one_model() -> None:
    topology = load_topology(Path(__file__).parent / "fixtures/canary-fails.yaml")
    failing = {fault.node for fault in topology.faults if fault.kind is FaultKind.FLASH_FAILS}
    r450 = {node.name for node in topology.nodes if node.model == "FF-1U-R450"}
    assert failing == r450


def test_failure_budget_fixture_keeps_faults_out_of_the_canary_class() -> None:
    topology = load_topology(Path(__file__).parent / "fixtures/failure-budget.yaml")
    lowest = min(topology.qos_classes, key=lambda qos: qos.order).name
    failing = {fault.node for fault in topology.faults}
    assert all(topology.node(name).qos != lowest for name in failing)
    assert len(failing) > topology.clusters[0].failure_budget


def test_group_allowance_follows_min_available(tmp_path: Path) -> None:
    path = tmp_path / "min.yaml"
    path.write_text(
        "name: m\nmodels: {M: {firmware: {BMC: '1.0'}}}\n"
        "clusters:\n- name: c\n  failure_budget: 0\n  groups:\n"
        "  - {name: g, min_available: 3, nodes: [{name: 'n[1-5]', model: M}]}\n"
    )
    group = load_topology(path).clusters[0].groups[0]
    assert group.allowance == 2


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(TopologyError) as caught:
        load_topology(missing)
    assert str(caught.value) == f"{missing}: cannot read topology: No such file or directory"


def test_the_documented_example_loads() -> None:
    doc = (ROOT / "docs" / "lab.md").read_text(encoding="utf-8")
    example = doc.split("## Topology format", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    from lab.topology import parse_topology

    topology = parse_topology(example, "docs/lab.md")
    assert [node.name for node in topology.nodes] == ["web-r1-1", "web-r1-2", "web-r1-3"]
    assert topology.node("web-r1-1").firmware["BIOS"] == "1.12.0"
    assert topology.qos_classes[1].windows[0].weekdays == (5, 6)
    assert [fault.kind for fault in topology.faults_for("web-r1-1")] == [FaultKind.LATENCY]


def test_demo_becomes_an_emulator_cluster_config() -> None:
    from lab.topology_emulator import emulator_config

    demo = load_topology(ROOT / "lab/topologies/demo.yaml")
    config = emulator_config(demo, base_port=0)
    config.validate()
    specs = config.node_specs()
    assert len(specs) == 24
    failing = demo.nodes.index(demo.node("web-r2-3"))
    assert [fault.kind for fault in specs[failing].faults] == ["flash_fails"]
    assert sum(len(spec.faults) for spec in specs) == 1
    assert specs[0].model == "FF-1U-R450" and specs[0].firmware == dict(demo.nodes[0].firmware)
    assert (config.flash_seconds, config.reset_seconds, config.bmc_restart_seconds) == (
        1.0, 0.5, 1.5)


def test_matrix_gives_one_emulated_bmc_per_combination() -> None:
    from lab.topology_emulator import matrix_nodes

    matrix = load_topology(ROOT / "lab/topologies/matrix.yaml").matrix
    assert matrix is not None
    nodes = matrix_nodes(matrix)
    assert len(nodes) == len(matrix.combinations())
    combination, spec = nodes[-1]
    assert spec.model == "FF-1U-R350" and spec.firmware == dict(combination.starting.firmware)


@pytest.mark.parametrize("name", ["demo.yaml", "rack-1000.yaml", "matrix.yaml"])
def test_sample_bundle_updates_every_component_from_each_starting_point(
        name: str, sample_bundle: Path) -> None:
    from firmware_payloads import explain_applicability, open_bundle

    with open_bundle(sample_bundle) as reader:
        manifest = reader.manifest
    topology = load_topology(ROOT / "lab/topologies" / name)
    starts = {(node.model, tuple(sorted(node.firmware.items()))) for node in topology.nodes}
    if topology.matrix is not None:
        starts |= {(c.model, tuple(sorted(c.starting.firmware.items())))
                   for c in topology.matrix.combinations()}
    assert starts
    for model, firmware in starts:
        decisions = explain_applicability(manifest, model, dict(firmware))
        applied = {d.package.component for d in decisions if d.action == "apply"}
        if model in manifest.models:
            assert applied == set(dict(firmware)), (model, firmware, decisions)
        else:
            assert applied == set()
            assert {d.action for d in decisions} == {"not_applicable_model"}


def canaries_of(topology_path: Path) -> tuple[set[str], set[str]]:
    """(canaries the gateway's planner picks across all clusters, nodes with flash faults)."""
    from datetime import UTC, datetime, timedelta

    from gateway.domain.cluster import Health
    from gateway.domain.planner import Applicability, NodeTarget, plan_campaign

    topology = load_topology(topology_path)
    canaries: set[str] = set()
    for cluster in domain_clusters(topology):
        members = [node for node in topology.nodes if node.cluster == cluster.name]
        plan = plan_campaign(
            cluster, {n.name: NodeTarget(n.model, Applicability.UPDATE) for n in members},
            dict.fromkeys((n.name for n in members), Health.UP),
            start=datetime(2026, 11, 25, tzinfo=UTC), slot=timedelta(minutes=5))
        canaries |= set(plan.canaries)
    failing = {f.node for f in topology.faults if f.kind is FaultKind.FLASH_FAILS}
    return canaries, failing


def test_the_demo_failing_node_is_not_a_canary() -> None:
    canaries, failing = canaries_of(ROOT / "lab/topologies/demo.yaml")
    assert failing == {"web-r2-3"} and not canaries & failing
    assert len(canaries) == 5  # one per model per cluster: web has 2 models, db 3


def test_the_canary_fixture_fails_a_canary_and_the_budget_fixture_does_not() -> None:
    fixtures = Path(__file__).parent / "fixtures"
    canaries, failing = canaries_of(fixtures / "canary-fails.yaml")
    assert canaries & failing
    canaries, failing = canaries_of(fixtures / "failure-budget.yaml")
    assert canaries and not canaries & failing


def test_mixed_vendors_nodes_reach_the_emulator_with_their_personality() -> None:
    """`lab up` writes each node's personality into the emulator's nodes file, so the
    BMC gets that family's quirks and identity (not the dmtf default)."""
    from emulator.config import ClusterConfig, NodeSpec
    from lab.runner import nodes_file_entry

    mixed = load_topology(ROOT / "lab/topologies/mixed-vendors.yaml")
    entries = [nodes_file_entry(node) for node in mixed.nodes]
    specs = ClusterConfig(nodes=[NodeSpec(**entry) for entry in entries]).node_specs()  # type: ignore[arg-type]
    idrac = [spec for spec, node in zip(specs, mixed.nodes, strict=True)
             if node.personality == "idrac"]
    assert len(idrac) == 4
    assert all("vmedia-under-systems" in spec.quirks for spec in idrac)
    assert {spec.personality for spec in specs} == {
        "dmtf", "openbmc", "idrac", "ilo", "xcc", "supermicro"}
    # The topology's FF-* starting versions stand, whatever the family.
    assert [spec.firmware for spec in specs] == [dict(node.firmware) for node in mixed.nodes]
