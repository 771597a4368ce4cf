"""The harness's static checks catch each broken bundle with its own message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.validate import (
    STATIC_CHECKS,
    Outcome,
    ValidateError,
    ValidationReport,
    load_matrix,
    load_trusted_keys,
    run_validation,
)
from tests.conftest import BundleFactory, ServedDirectory, TestKeys

MATRIX = load_matrix()
MATRIX_NAME = "lab/topologies/matrix.yaml"

# (spec, signed with the other key?, the checks that must fail, the message that names it)
BROKEN: list[tuple[str, bool, set[str], str]] = [
    ("wrong-model", False, {"lint.models_in_matrix"},
     "package 'nic-bcm57414-22.31.6' names model 'FF-2U-R570', which is not in "
     "lab/topologies/matrix.yaml (known models: FF-1U-R350, FF-1U-R450, FF-2U-R750, "
     "FF-4U-X900)"),
    ("missing-dependency", False, {"lint.dependencies_resolve", "manifest.schema"},
     "package 'bios-r450-1.18.0' requires 'bmc-r-2.10.4', which is not in the bundle"),
    ("dependency-cycle", False, {"lint.dependency_cycles", "manifest.schema"},
     "dependency cycle: bios-x900-4.1.0 -> bmc-x-3.2.1 -> nic-cx6-28.39.1002 -> "
     "bios-x900-4.1.0 (no order can install these packages)"),
    ("version-regression", False, {"matrix.version_regression"},
     "package 'bios-r450-1.15.0' brings BIOS 1.15.0, lower than the 1.16.0 already installed "
     "on FF-1U-R450 'previous': a version regression"),
    ("bad-signature", True, {"bundle.signature"},
     "bad signature: manifest signature does not verify with any trusted key "
     "(673cb1b857ded1bb): wrong key or manifest modified after signing"),
    ("version-below-min-from", False, {"lint.version_above_min_from"},
     "package 'nic-cx6-28.39.1002': version 28.39.1002 is not above its min_from_version "
     "28.40.0, so no node could ever take it"),
    ("reset-mismatch", False, {"lint.reset_consistent"},
     "package 'bios-r750-2.6.1' updates BIOS but declares reset 'none'; BIOS needs reset "
     "'host'"),
    ("duplicate-component", False, {"lint.unique_component_model", "manifest.schema"},
     "packages 'bios-r450-1.18.0' and 'bios-r750-2.6.1' both update BIOS on FF-1U-R450"),
    ("bad-version", False, {"lint.versions_parse", "manifest.schema"},
     "package 'bmc-r-2.6': version '2.6.x' is not a version (dotted numbers with an optional "
     "build suffix, e.g. 2.10.3 or 1.4.0-b17)"),
]


def failed_checks(report: ValidationReport) -> set[str]:
    return {r.check for r in report.results if r.outcome is Outcome.FAILED}


def test_the_sample_bundle_passes_every_static_check(sample_bundle: Path,
                                                     test_keys: TestKeys) -> None:
    report = run_validation(sample_bundle, [test_keys.public_key()], MATRIX,
                            matrix_source=MATRIX_NAME)
    assert report.passed
    assert [r.check for r in report.results] == list(STATIC_CHECKS)
    assert all(r.outcome is Outcome.PASSED for r in report.results)
    assert report.findings() == ()
    assert report.bundle_id == "fleetflash-2026q4"
    hashes = report.result_for("bundle.hashes")
    assert hashes is not None and hashes.detail.startswith("7 payloads, ")


@pytest.mark.parametrize(("spec", "other_key", "failing", "message"), BROKEN,
                         ids=[row[0] for row in BROKEN])
def test_each_broken_bundle_fails_with_its_own_message(
        broken_bundle: Callable[[str, Ed25519PrivateKey], Path], test_keys: TestKeys,
        spec: str, other_key: bool, failing: set[str], message: str) -> None:
    key = load_key(test_keys, other=other_key)
    report = run_validation(broken_bundle(spec, key), [test_keys.public_key()], MATRIX,
                            matrix_source=MATRIX_NAME)
    assert not report.passed
    assert failed_checks(report) == failing
    own = [f for f in report.findings() if f.check in failing - {"manifest.schema"}]
    assert [f.message for f in own] == [message]
    if own[0].package is not None:
        assert own[0].package in message


def load_key(keys: TestKeys, *, other: bool) -> Ed25519PrivateKey:
    from firmware_payloads import load_private_key

    return load_private_key(keys.other_private if other else keys.private)


def test_every_broken_spec_shipped_is_in_the_table() -> None:
    shipped = {path.stem for path in (Path(__file__).parent / "broken_bundles").glob("*.yaml")}
    assert shipped == {row[0] for row in BROKEN}


def test_a_manifest_gateways_refuse_is_reported_in_the_library_words(
        broken_bundle: Callable[[str, Ed25519PrivateKey], Path], test_keys: TestKeys) -> None:
    report = run_validation(broken_bundle("missing-dependency", test_keys.private_key()),
                            [test_keys.public_key()], MATRIX)
    schema = report.result_for("manifest.schema")
    assert schema is not None and [f.message for f in schema.findings] == [
        "gateways and BMCs will refuse this manifest: package 'bios-r450-1.18.0' requires "
        "unknown package 'bmc-r-2.10.4'"]
    # The payloads are still hashed one package at a time.
    hashes = report.result_for("bundle.hashes")
    assert hashes is not None and hashes.outcome is Outcome.PASSED


def test_a_tampered_payload_fails_the_hash_check(bundle_factory: BundleFactory,
                                                 test_keys: TestKeys) -> None:
    spec = bundle_factory.default_spec()
    versions = {"BMC": "2.10.3", "BIOS": "1.18.0", "NIC": "22.31.6"}  # above the matrix
    for package in spec["packages"]:
        package["models"] = ["FF-1U-R450"]
        package["version"] = versions[package["component"]]
    bundle = bundle_factory(spec, payload_overrides={"nic-7.1": b"x" * 3_000})
    report = run_validation(bundle, [test_keys.public_key()], MATRIX)
    assert failed_checks(report) == {"bundle.hashes"}
    [finding] = report.findings()
    assert finding.package == "nic-7.1"
    assert finding.message.startswith("payload of package 'nic-7.1' (payloads/nic-7.1.bin) "
                                      "has sha256 ")


def test_no_trusted_key_means_the_signature_fails(sample_bundle: Path) -> None:
    report = run_validation(sample_bundle, [], MATRIX)
    assert failed_checks(report) == {"bundle.signature"}
    assert "no trusted keys given" in report.findings()[0].message


def test_a_file_that_is_not_a_bundle_fails_format_and_skips_the_rest(
        tmp_path: Path, test_keys: TestKeys) -> None:
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"not an image" * 1000)
    report = run_validation(junk, [test_keys.public_key()], MATRIX)
    assert failed_checks(report) == {"bundle.format"}
    assert report.findings()[0].message.startswith(f"{junk}: ")
    skipped = [r for r in report.results if r.outcome is Outcome.SKIPPED]
    assert len(skipped) == len(STATIC_CHECKS) - 1
    assert skipped[0].detail == "the image is not a readable bundle (bundle.format failed)"


def test_a_missing_bundle_fails_format(tmp_path: Path, test_keys: TestKeys) -> None:
    report = run_validation(tmp_path / "absent.iso", [test_keys.public_key()], MATRIX)
    assert failed_checks(report) == {"bundle.format"}


def test_unreadable_trusted_key_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "key.pub"
    bad.write_text("not a key")
    with pytest.raises(ValidateError, match=rf"^trusted key {bad}: "):
        load_trusted_keys([bad])


def test_a_topology_without_a_matrix_is_refused_as_matrix() -> None:
    demo = Path(__file__).resolve().parents[3] / "lab/topologies/demo.yaml"
    with pytest.raises(ValidateError, match="has no 'matrix:' section"):
        load_matrix(demo)


def test_a_bundle_is_validated_over_http_ranges(
        sample_bundle: Path, test_keys: TestKeys,
        http_bundle_server: Callable[[Path], ServedDirectory]) -> None:
    served = http_bundle_server(sample_bundle.parent)
    url = served.url(sample_bundle.name)
    report = run_validation(url, [test_keys.public_key()], MATRIX)
    assert report.passed, report.findings()
    assert report.bundle == url
    assert served.requests and all(request.range for request in served.requests)


def test_an_unreachable_url_fails_format_naming_the_url(test_keys: TestKeys) -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/bundle.iso"
    report = run_validation(url, [test_keys.public_key()], MATRIX)
    assert failed_checks(report) == {"bundle.format"}
    assert report.findings()[0].message.startswith(f"{url}: ")
