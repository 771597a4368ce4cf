"""The gateway configuration `lab up` writes: every shipped topology becomes a config the
gateway itself accepts, with the topology's clusters, groups, QoS classes and nodes."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from gateway.cluster_config import load_clusters
from gateway.config import hash_password, load_config
from gateway.domain.windows import MaintenanceWindow
from lab.lab_gateway_config import LabEndpoints, render_gateway_config
from lab.topology import load_topology, parse_topology
from tests.conftest import REPO_ROOT, TestKeys

TOPOLOGIES = sorted((REPO_ROOT / "lab" / "topologies").glob("*.yaml")) + sorted(
    (REPO_ROOT / "tests" / "unit" / "lab" / "fixtures").glob("*.yaml"))


def _write(tmp_path: Path, text: str, public_key: Path) -> Path:
    topology = parse_topology(text, "t.yaml") if "\n" in text else load_topology(text)
    bmcs = [{"id": f"bmc-{i:04d}", "url": f"http://127.0.0.1:{20000 + i}", "username": "admin",
             "password": f"pw-{i}"} for i in range(len(topology.nodes))]
    endpoints = LabEndpoints(
        workdir=tmp_path, listener_port=5988, media_port=8080, api_port=8000,
        publisher_url="http://127.0.0.1:9000/bundles/", cim_username="lab-publisher",
        cim_password_hash=hash_password("secret", iterations=1000),
        trusted_key=public_key, bmcs=bmcs)
    path = tmp_path / "gateway.toml"
    path.write_text(render_gateway_config(topology, endpoints))
    return path


@pytest.mark.parametrize("topology", TOPOLOGIES, ids=lambda p: p.name)
def test_every_topology_becomes_a_config_the_gateway_accepts(
        tmp_path: Path, topology: Path, test_keys: TestKeys) -> None:
    loaded = load_topology(topology)
    config = load_config(_write(tmp_path, str(topology), test_keys.public))
    (source,) = config.sources
    assert source.owning_entities == ("FLEETFLASH",)
    assert source.image_uri_prefixes == ("http://127.0.0.1:9000/bundles/",)
    assert source.trusted_key_paths == (test_keys.public,)
    assert source.admits_client("127.0.0.1") and not source.admits_client("127.0.0.2")
    clusters = {c.cluster.name: c for c in load_clusters(config)}
    assert set(clusters) == {c.name for c in loaded.clusters}
    for node in loaded.nodes:
        settings = clusters[node.cluster]
        assert node.name in settings.endpoints
        assert settings.cluster.group_of(node.name) == node.group
    for cluster in loaded.clusters:
        domain = clusters[cluster.name].cluster
        assert domain.failure_budget == cluster.failure_budget
        assert domain.autonomy == cluster.autonomy


def test_qos_windows_manual_only_and_min_available_carry_over(
        tmp_path: Path, test_keys: TestKeys) -> None:
    path = _write(tmp_path, """\
name: windows
qos_classes:
  - {name: batch, order: 0}
  - name: prod
    order: 2
    manual_only: true
    windows: [{days: [sat, sun], start: "22:30", hours: 6}]
models:
  M: {firmware: {BMC: "1.0.0"}}
clusters:
  - name: c
    failure_budget: 2
    autonomy: require_approval
    max_concurrent: 3
    groups:
      - {name: g1, min_available: 2, nodes: [{name: "n[1-3]", model: M, qos: prod}]}
      - {name: g2, max_unavailable: 1, nodes: [{name: "m[1-2]", model: M, qos: batch,
                                               delivery: simple_update}]}
""", test_keys.public)
    (settings,) = load_clusters(load_config(path))
    cluster = settings.cluster
    prod = next(q for q in cluster.qos_classes if q.name == "prod")
    assert prod.order == 2 and prod.manual_only
    assert prod.windows == (MaintenanceWindow((5, 6), time(22, 30), timedelta(hours=6)),)
    assert cluster.max_concurrent == 3
    assert cluster.allowance("g1") == 1 and cluster.allowance("g2") == 1
    assert [m.value for m in settings.delivery][:2] == ["msc", "simple_update"]
