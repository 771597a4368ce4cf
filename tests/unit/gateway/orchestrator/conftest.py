"""A real store (SQLite and PostgreSQL: every test runs on both) with one verified image
and a campaign factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from gateway.store import Decision, GatewayStore, ImageState, NewAlert
from gateway.store.campaign_records import NewCampaign, NewRun
from gateway.store.campaigns import CampaignStore

SHA = "c" * 64


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[GatewayStore, CampaignStore]]:
    images = GatewayStore.open(database_url)
    images.admit_update(NewAlert(
        channel="cli", decision=Decision.ACCEPTED, reason="", source="acme",
        indication_identifier="i-1", message_id="FWUP0001", image_sha256=SHA,
        image_uri="http://h.example/a.iso", bundle_id="b", release="r"))
    assert images.claim_next_image("gw", timedelta(seconds=60)) is not None
    assert images.finish_image(SHA, "gw", ImageState.VERIFIED)
    yield images, CampaignStore(images.engine)
    images.close()


CampaignFactory = Callable[..., str]


@pytest.fixture
def make_campaign(stores: tuple[GatewayStore, CampaignStore]) -> CampaignFactory:
    def make(*, state: str = "pending_approval", budget: int = 0,
             steps: dict[str, str] | None = None, held: tuple[str, ...] = ()) -> str:
        _, store = stores
        runs = [NewRun(node_id=node, step=step, held=node in held)
                for node, step in (steps or {"n1": "pending", "n2": "pending"}).items()]
        assert store.create_campaign(NewCampaign(
            id="c1", cluster="lab", image_sha256=SHA, bundle_id="b", release="r",
            state=state, failure_budget=budget, canaries=("n1",)), runs)
        return "c1"

    return make
