"""Dynamic checks on a real in-process emulator, a reduced matrix and small bundles.

Each test starts one EmulatedCluster (libvirt test:///default), serves the
bundle with the gateway's media server on loopback and drives the BMCs
with the gateway's Redfish client.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.topology import EmulatorTimings, load_topology
from lab.validate import Outcome, ValidationReport, load_matrix, run_validation
from lab.validate.dynamic import MatrixChecks
from lab.validate.dynamic_faults import load_cell_faults
from tests.conftest import BundleFactory, TestKeys

STARTS = {
    "FF-1U-R450": '{name: previous, firmware: {BMC: "2.8.1", BIOS: "1.16.0", NIC: "22.21.0"}}',
    "FF-2U-R750": '{name: previous, firmware: {BMC: "2.8.1", BIOS: "2.4.0", NIC: "22.21.0"}}',
    "FF-4U-X900": '{name: previous, firmware: {BMC: "3.1.0", BIOS: "4.0.0", NIC: "28.36.1"}}',
    "FF-1U-R350": '{name: previous, firmware: {BMC: "1.9.0", BIOS: "1.4.0", NIC: "20.8.0"}}',
}
TIMINGS = EmulatorTimings(flash_seconds=0.05, reset_seconds=0.05, bmc_restart_seconds=0.1)


def matrix_file(directory: Path, models: list[str], deliveries: list[str]) -> Path:
    """A reduced test matrix: one starting point per model."""
    lines = ["name: test-matrix", "matrix:", f"  deliveries: [{', '.join(deliveries)}]",
             "  models:"]
    lines += [f"    {model}: [{STARTS[model]}]" for model in models]
    path = directory / "matrix.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def good_small_spec() -> dict[str, Any]:
    """R450 (BMC <- BIOS) and X900 (NIC, live) packages with 4 KiB payloads."""
    def package(pid: str, component: str, version: str, model: str, reset: str,
                requires: list[str], min_from: str | None) -> dict[str, Any]:
        return {"id": pid, "component": component, "version": version, "models": [model],
                "min_from_version": min_from, "requires": requires, "reset": reset,
                "path": f"payloads/{pid}.bin", "size": 4096}

    return {"bundle_id": "small-good", "release": "test", "publisher": "fleetflash tests",
            "packages": [
                package("bmc-r-2.10.3", "BMC", "2.10.3", "FF-1U-R450", "bmc", [], "2.4.0"),
                package("bios-r450-1.18.0", "BIOS", "1.18.0", "FF-1U-R450", "host",
                        ["bmc-r-2.10.3"], "1.12.0"),
                package("nic-cx6-28.39.1002", "NIC", "28.39.1002", "FF-4U-X900", "none", [],
                        "28.33.0"),
            ]}


def validate(bundle: Path, keys: TestKeys, matrix_path: Path,
             faults_path: Path | None = None) -> ValidationReport:
    matrix = load_matrix(matrix_path)
    assert load_topology(matrix_path).matrix == matrix
    faults = load_cell_faults(faults_path, matrix) if faults_path else ()
    dynamic = MatrixChecks([keys.public_key()], jobs=4, timings=TIMINGS, faults=faults,
                           timeout_s=30.0)
    return run_validation(bundle, [keys.public_key()], matrix, dynamic=dynamic)


def result(report: ValidationReport, name: str) -> Any:
    found = [r for r in report.results if r.name == name]
    assert found, f"no result {name}"
    return found[0]


def messages(report: ValidationReport, name: str) -> list[str]:
    return [f.message for f in result(report, name).errors]


def test_a_good_bundle_passes_every_scenario_and_a_foreign_model_stays_untouched(
        bundle_factory: BundleFactory, test_keys: TestKeys, tmp_path: Path) -> None:
    bundle = bundle_factory(good_small_spec())
    matrix = matrix_file(tmp_path, ["FF-1U-R450", "FF-4U-X900", "FF-1U-R350"],
                         ["simple_update", "multipart_push", "msc"])
    report = validate(bundle, test_keys, matrix)
    failures = {r.name: [f.message for f in r.errors] for r in report.results if r.errors}
    assert report.passed, failures
    dynamic = report.dynamic_results
    assert len(dynamic) == 5 * 9
    for delivery in ("simple_update", "multipart_push", "msc"):
        cell = f"FF-1U-R450/previous/{delivery}"
        assert result(report, f"dynamic.install[{cell}]").detail == \
            "BIOS 1.16.0 -> 1.18.0, BMC 2.8.1 -> 2.10.3, NIC 22.21.0 (unchanged)"
        assert result(report, f"dynamic.reapply[{cell}]").detail == \
            "no flash; 2 package(s) skipped as same version"
        assert result(report, f"dynamic.power_loss[{cell}]").detail.startswith(
            "power lost during the BIOS flash; recovered on ")
        assert "retry: " in result(report, f"dynamic.bmc_restart[{cell}]").detail
        foreign = f"FF-1U-R350/previous/{delivery}"
        assert result(report, f"dynamic.install[{foreign}]").detail.startswith(
            "not applicable, untouched (BIOS 1.4.0 (unchanged)")
        for check in ("reapply", "downgrade", "power_loss", "bmc_restart"):
            assert result(report, f"dynamic.{check}[{foreign}]").outcome is Outcome.SKIPPED
    x900 = "FF-4U-X900/previous/msc"
    assert result(report, f"dynamic.downgrade[{x900}]").detail == \
        "refused NIC from BIOS 4.0.0 (unchanged), BMC 3.1.0 (unchanged), NIC 29.0.0 (unchanged)"


def test_a_version_lower_than_installed_fails_the_install_as_a_regression(
        broken_bundle: Callable[[str, Ed25519PrivateKey], Path], test_keys: TestKeys,
        tmp_path: Path) -> None:
    bundle = broken_bundle("version-regression", test_keys.private_key())
    matrix = matrix_file(tmp_path, ["FF-1U-R450", "FF-2U-R750"], ["simple_update"])
    report = validate(bundle, test_keys, matrix)
    assert not report.passed
    assert messages(report, "dynamic.install[FF-1U-R450/previous/simple_update]") == [
        "version regression: package 'bios-r450-1.15.0' brings BIOS 1.15.0, lower than the "
        "1.16.0 installed; the node refuses it and stays on the newer version"]
    # the rest of the bundle installs: only the regression fails the cell
    assert result(report, "dynamic.install[FF-2U-R750/previous/simple_update]").outcome \
        is Outcome.PASSED
    assert result(report, "dynamic.downgrade[FF-1U-R450/previous/simple_update]").outcome \
        is Outcome.PASSED


@pytest.mark.parametrize("delivery", ["simple_update", "msc"])
def test_a_payload_that_fails_to_apply_on_one_model_fails_that_model_only(
        bundle_factory: BundleFactory, test_keys: TestKeys, tmp_path: Path,
        delivery: str) -> None:
    bundle = bundle_factory(good_small_spec())
    matrix = matrix_file(tmp_path, ["FF-1U-R450", "FF-4U-X900"], [delivery])
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - {model: FF-4U-X900, kind: flash_fails, component: NIC}\n")
    report = validate(bundle, test_keys, matrix, faults)
    assert not report.passed
    cell = f"FF-4U-X900/previous/{delivery}"
    found = messages(report, f"dynamic.install[{cell}]")
    assert "NIC: expected 28.39.1002, got 28.36.1" in found
    if delivery == "msc":
        assert "flash failed: NIC: fault: writing the component failed" in found
    else:
        assert "the update task ended Exception (ApplyFailed)" in found
        assert any(m.startswith("what the BMC said: task Exception: ") and
                   "NIC" in m and "the bundle" in m and "http" not in m for m in found)
    assert messages(report, f"dynamic.reapply[{cell}]") == [
        "not tried: the install did not reach the promised versions"]
    assert "after the retry: NIC: expected 28.39.1002, got 28.36.1" in \
        messages(report, f"dynamic.power_loss[{cell}]")
    r450 = f"FF-1U-R450/previous/{delivery}"
    assert all(r.outcome is Outcome.PASSED for r in report.dynamic_results
               if r.combination is not None and r.combination.key == r450)


def test_a_bundle_the_gateway_refuses_is_never_installed(
        broken_bundle: Callable[[str, Ed25519PrivateKey], Path], test_keys: TestKeys,
        tmp_path: Path) -> None:
    bundle = broken_bundle("dependency-cycle", test_keys.private_key())
    matrix = matrix_file(tmp_path, ["FF-4U-X900"], ["simple_update"])
    report = validate(bundle, test_keys, matrix)
    assert not report.passed
    assert {r.outcome for r in report.dynamic_results} == {Outcome.SKIPPED}
    assert result(report, "dynamic.install[FF-4U-X900/previous/simple_update]").detail \
        .startswith("not installed: the bundle failed its format, signature")
