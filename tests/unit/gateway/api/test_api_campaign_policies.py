"""POST /api/campaigns under the cluster policies: a downgrade needs the cluster's or the
image source's allow_downgrade, a staged cluster whose nodes lack a maintenance window is
refused with the reason, and a refusal names the policy and creates nothing."""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta

import pytest

from gateway.api.orchestration import OrchestratorOperations
from gateway.domain import Cluster, NodeSpec, QosClass, RedundancyGroup
from gateway.domain.windows import MaintenanceWindow
from gateway.orchestrator.service import CampaignService
from gateway.orchestrator.settings import Activation, ClusterSettings
from gateway.store.campaigns import CampaignStore
from tests.unit.gateway.api.conftest import IMAGE_PREFIX, ApiHarness

SHA = "cd" * 32


def _operations(api: ApiHarness, *, cluster_allows: bool = False,
                sources: frozenset[str] = frozenset(),
                activation: Activation = Activation.IMMEDIATE, qos: str = "night") -> None:
    api.client.post("/api/alerts", headers=api.headers("operator"), json={
        "source": "acme", "image_uri": IMAGE_PREFIX + "x.iso", "sha256": SHA,
        "bundle_id": "b", "release": "2026.4"})
    window = QosClass("night", windows=(MaintenanceWindow(
        (0, 1, 2, 3, 4, 5, 6), time(22, 0), timedelta(hours=6)),))
    cluster = Cluster("lab", (RedundancyGroup("g", max_unavailable=1),),
                      (NodeSpec("n1", "g", qos),),
                      qos_classes=(window, QosClass("day")))
    settings = dataclasses.replace(ClusterSettings(cluster, endpoints={}),
                                   allow_downgrade=cluster_allows, activation=activation)
    api.context.operations = OrchestratorOperations(
        CampaignService(api.context.store, CampaignStore(api.context.store.engine)),
        {"lab": settings}, downgrade_sources=sources)


def _start(api: ApiHarness, **extra: object) -> tuple[int, str]:
    response = api.client.post("/api/campaigns", headers=api.headers("operator"),
                               json={"image_sha256": SHA, "cluster": "lab", **extra})
    return response.status_code, response.json["error"]["message"]


def test_a_downgrade_is_refused_unless_a_policy_allows_it(api: ApiHarness) -> None:
    _operations(api)
    status, message = _start(api, allow_downgrade=True)
    assert status == 409
    assert "allow_downgrade is false" in message and "cluster 'lab'" in message
    assert "source 'acme'" in message
    listed = api.client.get("/api/campaigns", headers=api.headers("viewer")).json
    assert listed["total"] == 0


@pytest.mark.parametrize(("cluster_allows", "sources"), [
    (True, frozenset()), (False, frozenset({"acme"}))])
def test_the_cluster_or_the_source_may_allow_downgrades(
        api: ApiHarness, cluster_allows: bool, sources: frozenset[str]) -> None:
    _operations(api, cluster_allows=cluster_allows, sources=sources)
    status, message = _start(api, allow_downgrade=True)
    # Past the policy: what stops it now is the image, still pending verification.
    assert status == 409 and "only a verified image" in message


def test_a_staged_cluster_without_a_window_gets_no_campaign(api: ApiHarness) -> None:
    """Settings built without the config loader (which refuses them already): the
    campaign is still refused at creation, naming the class without a window."""
    _operations(api, activation=Activation.STAGED, qos="day")
    status, message = _start(api)
    assert status == 409 and 'activation = "staged"' in message
    assert "QoS class 'day' (nodes n1) has none" in message
    listed = api.client.get("/api/campaigns", headers=api.headers("viewer")).json
    assert listed["total"] == 0


def test_a_staged_cluster_with_windows_passes_the_policy(api: ApiHarness) -> None:
    _operations(api, activation=Activation.STAGED)
    status, message = _start(api)
    assert status == 409 and "only a verified image" in message
