"""A pushed event wakes a node waiting in MONITOR (EVENT_LOOK_AFTER_S later), also when
it arrives while a worker is driving the node: a look under way may end in a long wait
(a back-off while its BMC was silent), and the BMC saying it is back must not be lost
(gateway/orchestrator/runtime.py, Orchestrator.on_bmc_events)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gateway.orchestrator.bmc_events import BmcEvent
from gateway.orchestrator.runtime import EVENT_LOOK_AFTER_S, Orchestrator
from gateway.orchestrator.settings import OrchestratorSettings
from gateway.store import GatewayStore
from gateway.store.campaigns import CampaignStore
from tests.unit.gateway.orchestrator.conftest import CampaignFactory

BACK = BmcEvent("ResourceEvent.1.0.ResourceChanged",
                "/redfish/v1/UpdateService/FirmwareInventory/BMC", "")
KEY = ("c1", "n1")


@pytest.fixture
def orchestrator(stores: tuple[GatewayStore, CampaignStore],
                 make_campaign: CampaignFactory) -> Iterator[Orchestrator]:
    images, store = stores
    make_campaign(state="running", steps={"n1": "monitor", "n2": "wait_back"})
    orchestrator = Orchestrator(images, store, (), OrchestratorSettings(), owner="gw",
                                mint_url=lambda *_: "", locate_image=lambda _: None)
    yield orchestrator
    orchestrator.stop()


def _due_in(orchestrator: Orchestrator) -> float:
    return orchestrator._waiting[KEY][0] - time.monotonic()


def test_an_event_while_its_look_runs_ends_the_next_monitor_wait(
        orchestrator: Orchestrator, stores: tuple[GatewayStore, CampaignStore]) -> None:
    run = stores[1].run(*KEY)
    orchestrator._in_flight.add(KEY)  # a worker is looking at the node
    orchestrator.on_bmc_events("n1", (BACK,))
    orchestrator._wait(KEY, run, 60.0)  # the look ended in a long wait
    assert _due_in(orchestrator) <= EVENT_LOOK_AFTER_S


def test_without_an_event_the_wait_is_kept_and_an_event_then_shortens_it(
        orchestrator: Orchestrator, stores: tuple[GatewayStore, CampaignStore]) -> None:
    run = stores[1].run(*KEY)
    orchestrator._wait(KEY, run, 60.0)
    assert _due_in(orchestrator) > 30
    orchestrator.on_bmc_events("n1", (BACK,))
    assert _due_in(orchestrator) <= EVENT_LOOK_AFTER_S


def test_a_wake_is_for_monitor_only(
        orchestrator: Orchestrator, stores: tuple[GatewayStore, CampaignStore]) -> None:
    run = stores[1].run("c1", "n2")
    key = ("c1", "n2")
    orchestrator._in_flight.add(key)
    orchestrator.on_bmc_events("n2", (BACK,))
    orchestrator._wait(key, run, 60.0)  # WAIT_BACK keeps its own pace
    assert orchestrator._waiting[key][0] - time.monotonic() > 30
