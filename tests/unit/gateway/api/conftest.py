"""Fixtures for API tests: a real SQLite (or PostgreSQL) store, intake service, tokens of
every role, and Flask's test client over the real app (no server needed for unit tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.api.app import create_app
from gateway.api.context import ApiContext
from gateway.api.orchestration import OrchestratorOperations
from gateway.config import load_config
from gateway.domain import Cluster, NodeSpec, RedundancyGroup
from gateway.intake.service import IntakeService
from gateway.orchestrator.service import CampaignService
from gateway.orchestrator.settings import ClusterSettings
from gateway.store import GatewayStore
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore
from tests.conftest import TestKeys
from tests.integration.intake.gatewaykit import write_config

IMAGE_PREFIX = "http://127.0.0.1:9/fw/"
BACKENDS = ["sqlite", "postgresql"]


@dataclass
class ApiHarness:
    """The app, its context and one token per role (`tokens[role]` is the secret)."""

    app: Flask
    context: ApiContext
    tokens: dict[str, str]
    client: FlaskClient

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def api(tmp_path: Path, test_keys: TestKeys, request: pytest.FixtureRequest
        ) -> Iterator[ApiHarness]:
    """On SQLite; a module runs on PostgreSQL too with
    ``pytestmark = pytest.mark.parametrize("api", BACKENDS, indirect=True)``."""
    config = load_config(write_config(tmp_path, prefixes=[IMAGE_PREFIX],
                                      trusted_key=test_keys.public))
    backend = getattr(request, "param", "sqlite")
    url = (request.getfixturevalue("postgres_url") if backend == "postgresql"
           else config.database_url)
    store = GatewayStore.open(url)
    context = ApiContext.for_store(store, intake=IntakeService(config, store))
    tokens = {role: context.tokens.create(f"{role}-token", role)[1]
              for role in ("viewer", "operator", "admin")}
    app = create_app(context)
    yield ApiHarness(app, context, tokens, app.test_client())
    store.close()


CAMPAIGN_SHA = "ef" * 32
CAMPAIGN_NODES = ("n1", "n2", "n3")
CampaignMaker = Callable[..., str]


@pytest.fixture
def make_campaign(api: ApiHarness) -> CampaignMaker:
    """make_campaign(state, n3_step="quarantined") -> campaign id, on cluster "lab", as the
    campaign creator writes it: n1 the canary (done), n2 pending, n3 in ``n3_step``. The
    API's operations are the real orchestrator service over the same store."""
    api.client.post("/api/alerts", headers=api.headers("operator"), json={
        "source": "acme", "image_uri": IMAGE_PREFIX + "x.iso", "sha256": CAMPAIGN_SHA,
        "bundle_id": "b", "release": "2026.4"})
    store = api.context.store
    campaigns = CampaignStore(store.engine)
    cluster = Cluster("lab", (RedundancyGroup("g", max_unavailable=1),),
                      tuple(NodeSpec(n, "g") for n in CAMPAIGN_NODES), failure_budget=1)
    api.context.operations = OrchestratorOperations(
        CampaignService(store, campaigns), {"lab": ClusterSettings(cluster, endpoints={})})
    counter = iter(range(1000))

    def make(state: str, n3_step: str = "quarantined") -> str:
        campaign_id = f"c{next(counter)}"
        # The unique key is (image, cluster): each test campaign gets its own cluster name.
        record = NewCampaign(id=campaign_id, cluster=f"lab-{campaign_id}",
                             image_sha256=CAMPAIGN_SHA, bundle_id="b", release="2026.4",
                             state=state, failure_budget=1, canaries=("n1",))
        runs = [NewRun("n1", "done", canary=True, model="FF"), NewRun("n2", "pending"),
                NewRun("n3", n3_step, error="monitor timed out after 30 s")]
        assert campaigns.create_campaign(record, runs)
        return campaign_id

    return make
