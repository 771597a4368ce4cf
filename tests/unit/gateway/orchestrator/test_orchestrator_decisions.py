"""Pure decisions of the executor: applicability, version checks, task failure messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_payloads import open_bundle
from gateway.domain import Applicability
from gateway.orchestrator.context import missing_versions
from gateway.orchestrator.creator import campaign_id_for
from gateway.orchestrator.inventory import applicability
from gateway.orchestrator.monitor_notes import task_failure
from tests.conftest import BundleFactory

START = {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0.0"}


@pytest.fixture
def manifest(bundle_factory: BundleFactory):  # type: ignore[no-untyped-def]
    path: Path = bundle_factory()
    with open_bundle(str(path)) as reader:
        return reader.manifest


@pytest.mark.parametrize(("description", "model", "installed", "kind", "versions"), [
    ("everything older", "FF-TEST", START, Applicability.UPDATE,
     {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"}),
    ("only the NIC is old", "FF-TEST", {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "1.0"},
     Applicability.UPDATE, {"NIC": "7.1"}),
    ("already current", "FF-TEST", {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"},
     Applicability.UP_TO_DATE, {}),
    ("another model", "FF-OTHER", START, Applicability.NOT_APPLICABLE, {}),
    ("unparseable version", "FF-TEST", {"BMC": "banana", "BIOS": "1", "NIC": "1"},
     Applicability.NOT_APPLICABLE, {}),
])
def test_applicability_from_discovered_model_and_versions(
        manifest, description: str, model: str, installed: dict[str, str],  # type: ignore[no-untyped-def]
        kind: Applicability, versions: dict[str, str]) -> None:
    fit = applicability(manifest, model, installed)
    assert fit.target.applicability is kind, description
    assert fit.versions == versions, description


def test_versions_decide_success() -> None:
    targets = {"BMC": "2.0.0", "BIOS": "1.5.0"}
    assert missing_versions({"BMC": "2.0.0", "BIOS": "1.5.0"}, targets) == []
    assert missing_versions({"BMC": "2.1", "BIOS": "1.5.0"}, targets) == []
    assert missing_versions({"BMC": "2.0.0"}, targets) == ["BIOS absent (want 1.5.0)"]
    assert missing_versions({"BMC": "1.9", "BIOS": "1.5.0"}, targets) == [
        "BMC 1.9 (want 2.0.0)"]


def test_task_failure_names_the_failure_and_hides_the_capability_url() -> None:
    url = "http://gw:8080/media/SECRETTOKEN/image.iso"
    text = task_failure(
        "Exception",
        ("Update.1.0.UpdateInProgress", "Update.1.0.ApplyFailed"),
        (f"Updating from {url}.", f"Installing image '{url}' on BIOS failed."))
    assert "ApplyFailed" in text and "SECRETTOKEN" not in text
    assert "UpdateInProgress" not in text


def test_campaign_ids_are_stable_and_short() -> None:
    assert campaign_id_for("lab", "ab" * 32) == "lab-abababababab"
    long_id = campaign_id_for("x" * 64, "ab" * 32)
    assert len(long_id) <= 64 and long_id == campaign_id_for("x" * 64, "ab" * 32)
