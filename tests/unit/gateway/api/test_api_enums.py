"""One definition per enum: the values the OpenAPI document publishes, the label values
/metrics reports, the CLI's choices and the colours of states and steps are those of the
Python enums
(Decision, ImageState, NodeStep, CampaignState, DeliveryMethod), so a value added to
an enum reaches every one of them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import click
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.api.cli import list_alerts
from gateway.api.cli_campaigns import STATE_STYLE
from gateway.api.openapi import openapi_document
from gateway.api.orchestration import OrchestratorOperations
from gateway.api.ports import IDLE_STEP
from gateway.api.timeline_svg import OUTCOME_COLOURS, STEP_COLOURS
from gateway.domain import (
    FINAL_STEPS,
    OPERATOR_STEPS,
    PATH,
    STAGING_STEPS,
    CampaignState,
    DeliveryMethod,
    NodeStep,
)
from gateway.store import Decision, ImageState
from gateway.store.campaigns import CampaignStore
from tests.unit.gateway.api.conftest import ApiHarness, CampaignMaker


def _values(kind: type[StrEnum]) -> list[str]:
    return [member.value for member in kind]


def _schema(document: dict[str, Any], name: str, field: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][name]["properties"][field]
    return schema


def _query(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    (parameter,) = [p for p in document["paths"][path]["get"]["parameters"]
                    if p["name"] == name]
    schema: dict[str, Any] = parameter["schema"]
    return schema


# (component schema, property) -> the enum whose values it publishes
COMPONENT_ENUMS: list[tuple[str, str, type[StrEnum], tuple[str, ...]]] = [
    ("Alert", "decision", Decision, ()),
    ("AlertOutcome", "decision", Decision, ()),
    ("Image", "state", ImageState, ()),
    ("Campaign", "state", CampaignState, ()),
    ("Timeline", "state", CampaignState, ()),
    ("NodeProgress", "step", NodeStep, ()),
    ("NodeProgress", "method", DeliveryMethod, ()),
    ("Node", "step", NodeStep, (IDLE_STEP,)),
    ("Span", "step", NodeStep, ()),
    ("TimelineNode", "outcome", NodeStep, ()),
    ("NodeReport", "outcome", NodeStep, ()),
    ("NodeReport", "method", DeliveryMethod, ()),
]


@pytest.mark.parametrize(("name", "field", "kind", "extra"), COMPONENT_ENUMS)
def test_openapi_component_enums_are_the_python_enums(
        api: ApiHarness, name: str, field: str, kind: type[StrEnum],
        extra: tuple[str, ...]) -> None:
    schema = _schema(openapi_document(api.app), name, field)
    assert schema["enum"] == _values(kind) + list(extra)


@pytest.mark.parametrize(("path", "name", "kind"), [
    ("/api/alerts", "decision", Decision),
    ("/api/images", "state", ImageState),
    ("/api/campaigns", "state", CampaignState),
])
def test_openapi_query_enums_are_the_python_enums(api: ApiHarness, path: str, name: str,
                                                  kind: type[StrEnum]) -> None:
    assert _query(openapi_document(api.app), path, name)["enum"] == _values(kind)


def test_a_query_value_outside_the_enum_is_refused_naming_it(api: ApiHarness) -> None:
    response = api.client.get("/api/alerts?decision=maybe", headers=api.headers("viewer"))
    assert response.status_code == 400 and "decision" in response.get_data(as_text=True)


def test_metric_label_values_are_the_python_enums(api: ApiHarness,
                                                 make_campaign: CampaignMaker) -> None:
    campaign_id = make_campaign("running")
    store = api.context.store
    assert CampaignStore(store.engine).save_run(
        campaign_id, "n1", owner=None, expected_step="done", method=DeliveryMethod.MSC.value,
        timings={"precheck": 0.5, "monitor": 40.0})
    operations = api.context.operations
    assert isinstance(operations, OrchestratorOperations)
    api.context.metrics.watch_store(store)
    api.context.metrics.watch_campaigns(operations.campaign_counts, operations.node_counts)
    api.context.metrics.watch_step_durations(operations.step_durations)

    labels: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(api.context.metrics.render().decode()):
        for sample in family.samples:
            for label, value in sample.labels.items():
                labels.setdefault(family.name, {}).setdefault(label, set()).add(value)
    assert labels["fleetflash_alerts"]["decision"] == set(_values(Decision))
    assert labels["fleetflash_images"]["state"] == set(_values(ImageState))
    assert labels["fleetflash_campaigns"]["state"] == set(_values(CampaignState))
    assert labels["fleetflash_nodes"]["state"] == set(_values(NodeStep))
    durations = labels["fleetflash_node_step_duration_seconds"]
    assert durations["step"] == {"precheck", "monitor"} <= set(_values(NodeStep))
    assert durations["method"] == {DeliveryMethod.MSC.value}


def test_the_cli_offers_and_colours_exactly_the_python_enums() -> None:
    (decision,) = [p for p in list_alerts.params if p.name == "decision"]
    assert isinstance(decision.type, click.Choice)
    assert list(decision.type.choices) == _values(Decision)
    assert set(STATE_STYLE) == set(_values(CampaignState))


def test_the_timeline_colours_every_step_a_node_spends_time_in_and_every_outcome() -> None:
    assert set(STEP_COLOURS) == {step.value for step in (
        *PATH, NodeStep.FAILED, *STAGING_STEPS)}
    assert set(OUTCOME_COLOURS) == {step.value for step in (
        *FINAL_STEPS, NodeStep.FAILED, *OPERATOR_STEPS, NodeStep.STAGED)}
