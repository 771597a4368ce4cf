"""What the manifest promises a matrix node, and the per-cell faults file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulator.faults import FaultKind
from firmware_payloads import Manifest
from lab.topology import Combination, Delivery, StartingFirmware
from lab.validate import ValidateError, load_matrix
from lab.validate.dynamic_expect import (
    describe_change,
    expect,
    newer_than_bundle,
    version_findings,
)
from lab.validate.dynamic_faults import faults_for, load_cell_faults

MATRIX = load_matrix()
R450_PREVIOUS = {"BMC": "2.8.1", "BIOS": "1.16.0", "NIC": "22.21.0"}


def package(pid: str, component: str, version: str, models: list[str], *,
            min_from: str | None = None, requires: list[str] | None = None,
            reset: str = "host") -> dict[str, Any]:
    return {"id": pid, "component": component, "version": version, "models": models,
            "min_from_version": min_from, "requires": requires or [], "reset": reset,
            "path": f"payloads/{pid}.bin", "size": 4096, "sha256": "0" * 64}


def manifest(*packages: dict[str, Any]) -> Manifest:
    return Manifest.from_dict({"schema_version": 1, "bundle_id": "t", "release": "t",
                               "publisher": "t", "packages": list(packages)})


BMC = package("bmc-r-2.10.3", "BMC", "2.10.3", ["FF-1U-R450"], min_from="2.4.0", reset="bmc")
BIOS = package("bios-r450-1.18.0", "BIOS", "1.18.0", ["FF-1U-R450"], min_from="1.12.0",
               requires=["bmc-r-2.10.3"])
NIC = package("nic-1", "NIC", "22.31.6", ["FF-1U-R450"])


def test_promise_lists_packages_in_dependency_order_and_the_end_versions() -> None:
    promise = expect(manifest(BIOS, NIC, BMC), "FF-1U-R450", R450_PREVIOUS)
    # ready packages in manifest order; the BIOS waits for the BMC it requires
    assert [p.id for p in promise.to_flash] == ["nic-1", "bmc-r-2.10.3", "bios-r450-1.18.0"]
    assert promise.end == {"BMC": "2.10.3", "BIOS": "1.18.0", "NIC": "22.31.6"}
    assert promise.problems == ()
    assert promise.in_bundle


def test_a_package_older_than_installed_is_a_regression_and_the_node_keeps_its_version() -> None:
    old_bios = package("bios-r450-1.15.0", "BIOS", "1.15.0", ["FF-1U-R450"])
    promise = expect(manifest(BMC, old_bios), "FF-1U-R450", R450_PREVIOUS)
    assert promise.end["BIOS"] == "1.16.0"
    assert promise.problems == (
        "version regression: package 'bios-r450-1.15.0' brings BIOS 1.15.0, lower than the "
        "1.16.0 installed; the node refuses it and stays on the newer version",)


def test_a_start_below_min_from_version_and_the_blocked_dependent_are_named() -> None:
    start = {**R450_PREVIOUS, "BMC": "2.0.0"}
    promise = expect(manifest(BMC, BIOS), "FF-1U-R450", start)
    assert promise.to_flash == ()
    assert promise.problems[0] == ("package 'bmc-r-2.10.3' cannot update this starting point: "
                                   "BMC 2.0.0 is below its min_from_version 2.4.0")
    assert promise.problems[1].startswith("package 'bios-r450-1.18.0' is blocked: requires "
                                          "bmc-r-2.10.3")


def test_a_model_in_no_package_is_promised_nothing() -> None:
    promise = expect(manifest(BMC, BIOS), "FF-1U-R350", R450_PREVIOUS)
    assert not promise.in_bundle
    assert promise.end == R450_PREVIOUS and promise.to_flash == ()


def test_the_downgrade_node_runs_above_every_offered_version() -> None:
    promise = expect(manifest(BMC, BIOS), "FF-1U-R450", R450_PREVIOUS)
    assert newer_than_bundle(promise) == {"BMC": "3.0.0", "BIOS": "2.0.0", "NIC": "22.21.0"}


def test_version_findings_say_expected_and_got() -> None:
    findings = version_findings("dynamic.install", {"BIOS": "1.18.0", "NIC": "1.0"},
                                {"BIOS": "1.16.0", "NIC": "1.0.0"})
    assert [f.message for f in findings] == ["BIOS: expected 1.18.0, got 1.16.0"]
    assert describe_change({"BIOS": "1.16.0", "NIC": "1"}, {"BIOS": "1.18.0", "NIC": "1"}) == \
        "BIOS 1.16.0 -> 1.18.0, NIC 1 (unchanged)"


# the faults file -----------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "faults.yaml"
    path.write_text(text)
    return path


def test_a_declared_fault_applies_to_the_cells_it_names(tmp_path: Path) -> None:
    faults = load_cell_faults(write(tmp_path, """
faults:
  - {model: FF-2U-R750, kind: flash_fails, component: BIOS, delivery: msc}
"""), MATRIX)
    r750 = next(m for m in MATRIX.models if m.model == "FF-2U-R750")
    msc = Combination("FF-2U-R750", r750.starting[0], Delivery.MSC)
    pushed = Combination("FF-2U-R750", r750.starting[0], Delivery.MULTIPART_PUSH)
    other = Combination("FF-1U-R450", StartingFirmware("previous", {}), Delivery.MSC)
    (fault,) = faults_for(faults, msc)
    assert fault.kind is FaultKind.FLASH_FAILS and fault.params == {"component": "BIOS"}
    assert faults_for(faults, pushed) == () and faults_for(faults, other) == ()


@pytest.mark.parametrize(("description", "text", "message"), [
    ("not a list", "faults: {}\n", "expected a mapping with one key, 'faults', holding a list"),
    ("unknown model", "faults: [{model: FF-9U, kind: flash_fails}]\n",
     r"faults\[0\]\.model: 'FF-9U' is not a model of the matrix"),
    ("unknown kind", "faults: [{model: FF-2U-R750, kind: melts}]\n",
     r"faults\[0\]: unknown fault kind 'melts'"),
    ("unknown key", "faults: [{model: FF-2U-R750, kind: flash_fails, colour: red}]\n",
     r"faults\[0\]: unknown key\(s\) colour"),
    ("unknown starting point", "faults: [{model: FF-2U-R750, kind: flash_fails, "
     "starting: ancient}]\n", "FF-2U-R750 has no starting point 'ancient'"),
    ("unknown delivery", "faults: [{model: FF-2U-R750, kind: flash_fails, delivery: pxe}]\n",
     r"faults\[0\]\.delivery: 'pxe' is not a delivery of the matrix"),
    ("bad parameter", "faults: [{model: FF-2U-R750, kind: flash_fails, count: -1}]\n",
     "count must not be negative"),
    ("bad YAML", "faults: [\n", "is not valid YAML"),
])
def test_a_bad_faults_file_is_refused_naming_the_entry(tmp_path: Path, description: str,
                                                       text: str, message: str) -> None:
    with pytest.raises(ValidateError, match=message):
        load_cell_faults(write(tmp_path, text), MATRIX)


def test_a_missing_faults_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidateError, match=r"cannot read faults file .*nope\.yaml"):
        load_cell_faults(tmp_path / "nope.yaml", MATRIX)
