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
    # Only the BMC package (and the BIOS one, which requires it) is held back.
    ("unparseable version", "FF-TEST", {"BMC": "banana", "BIOS": "1", "NIC": "1"},
     Applicability.UPDATE, {"NIC": "7.1"}),
    ("unparseable version, nothing else to do", "FF-TEST",
     {"BMC": "banana", "BIOS": "1.5.0", "NIC": "7.1"}, Applicability.NOT_APPLICABLE, {}),
    ("untouched component in a vendor format", "FF-TEST",
     {**START, "CPLD": "U46 v2.90 (10/25/2024)"}, Applicability.UPDATE,
     {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"}),
])
def test_applicability_from_discovered_model_and_versions(
        manifest, description: str, model: str, installed: dict[str, str],  # type: ignore[no-untyped-def]
        kind: Applicability, versions: dict[str, str]) -> None:
    fit = applicability(manifest, model, installed)
    assert fit.target.applicability is kind, description
    assert fit.versions == versions, description


def test_unreadable_version_reason_quotes_it(manifest) -> None:  # type: ignore[no-untyped-def]
    fit = applicability(manifest, "FF-TEST", {"BMC": "P79 v1.45", "BIOS": "1.5.0",
                                              "NIC": "7.1"})
    assert "'P79 v1.45'" in fit.target.reason


def test_wrong_model_reason_is_not_hidden(manifest) -> None:  # type: ignore[no-untyped-def]
    fit = applicability(manifest, "PowerEdge R640", {"BIOS": "P79 v1.45"})
    assert fit.target.reason == "the image has no package for model PowerEdge R640"


def test_a_node_without_a_model_is_not_another_model(manifest) -> None:  # type: ignore[no-untyped-def]
    """sushy-tools reports no Model: an exclusion saying so, not a covered other model."""
    fit = applicability(manifest, "", {"BIOS": "1.0.0"})
    assert fit.target.applicability is Applicability.NOT_APPLICABLE
    assert not fit.other_model
    assert "reports no ComputerSystem.Model" in fit.target.reason
    assert "reports no ComputerSystem.Model" in fit.reasons[0]


def test_fallback_source_is_named_when_not_applicable(manifest) -> None:  # type: ignore[no-untyped-def]
    source = ("fallback: BIOS from ComputerSystem.BiosVersion ('1.5.0'); "
              "BMC from Manager.FirmwareVersion (not reported)")
    fit = applicability(manifest, "FF-TEST", {"BIOS": "1.5.0"}, source)
    assert fit.target.applicability is Applicability.NOT_APPLICABLE
    assert "node reports no BMC version" in fit.target.reason
    assert "no readable UpdateService.FirmwareInventory" in fit.target.reason
    assert "Manager.FirmwareVersion (not reported)" in fit.reasons[-1]


def test_versions_decide_success_under_the_package_scheme() -> None:
    from firmware_payloads import Manifest

    raw = {"id": "bios", "component": "BIOS", "version": "P79 v1.50", "models": ["R1"],
           "min_from_version": None, "requires": [], "reset": "host", "path": "p/b.bin",
           "size": 1, "sha256": "0" * 64,
           "version_scheme": {"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)"}}
    bundle = Manifest.from_dict({"schema_version": 1, "bundle_id": "b", "release": "r",
                                 "publisher": "p", "packages": [raw]})
    targets = {"BIOS": "P79 v1.50"}
    assert missing_versions({"BIOS": "P79 v1.60"}, targets, bundle, "R1") == []
    assert missing_versions({"BIOS": "P79 v1.45"}, targets, bundle, "R1") == [
        "BIOS P79 v1.45 (want P79 v1.50)"]
    assert missing_versions({"BIOS": "1.50"}, targets, bundle, "R1") == [
        "BIOS '1.50' unreadable as a regex 'P79 v(\\d+)\\.(\\d+)' (want P79 v1.50)"]


def test_versions_decide_success() -> None:
    targets = {"BMC": "2.0.0", "BIOS": "1.5.0"}
    assert missing_versions({"BMC": "2.0.0", "BIOS": "1.5.0"}, targets) == []
    assert missing_versions({"BMC": "2.1", "BIOS": "1.5.0"}, targets) == []
    assert missing_versions({"BMC": "2.0.0"}, targets) == ["BIOS absent (want 1.5.0)"]
    assert missing_versions({"BMC": "1.9", "BIOS": "1.5.0"}, targets) == [
        "BMC 1.9 (want 2.0.0)"]


def test_a_downgraded_component_must_reach_its_target_exactly() -> None:
    """A rollback from BMC 2.1 to 2.0: 2.1 still installed is not done (the BMC has not
    restarted into 2.0 yet), though it is "at least" 2.0."""
    targets = {"BMC": "2.0.0", "BIOS": "1.5.0"}
    assert missing_versions({"BMC": "2.1.0", "BIOS": "1.5.0"}, targets,
                            downgraded={"BMC"}) == ["BMC 2.1.0 (want 2.0.0)"]
    assert missing_versions({"BMC": "2.0.0", "BIOS": "1.6.0"}, targets,
                            downgraded={"BMC"}) == []
    assert missing_versions({"BMC": "2.0", "BIOS": "1.5.0"}, targets,
                            downgraded={"BMC"}) == []  # equal under the scheme


def test_a_downgrade_campaign_plans_older_packages(manifest) -> None:  # type: ignore[no-untyped-def]
    ahead = {"BMC": "2.1.0", "BIOS": "1.6.0", "NIC": "7.1"}
    assert applicability(manifest, "FF-TEST", ahead).target.applicability is (
        Applicability.UP_TO_DATE)
    fit = applicability(manifest, "FF-TEST", ahead, allow_downgrade=True)
    assert fit.target.applicability is Applicability.UPDATE
    assert fit.versions == {"BMC": "2.0.0", "BIOS": "1.5.0"}  # NIC 7.1 is already there
    assert list(fit.packages) == ["bmc-2.0.0", "bios-1.5.0"]  # BIOS requires BMC: after it


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
