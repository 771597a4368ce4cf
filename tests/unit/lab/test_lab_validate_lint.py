"""Manifest lint rules on decoded manifests (edge cases the broken specs do not cover)."""

from __future__ import annotations

from typing import Any

import pytest

from lab.validate.harness import load_matrix
from lab.validate.lint import lint_manifest
from lab.validate.results import Outcome, Severity

MATRIX = load_matrix()


def package(pid: str, component: str, version: str, *, models: list[str] | None = None,
            requires: list[str] | None = None, reset: str = "host",
            min_from: str | None = None) -> dict[str, Any]:
    return {"id": pid, "component": component, "version": version,
            "models": models or ["FF-1U-R450"], "min_from_version": min_from,
            "requires": requires or [], "reset": reset, "path": f"p/{pid}.bin",
            "size": 1, "sha256": "0" * 64}


def lint(*packages: dict[str, Any]) -> dict[str, list[tuple[Severity, str]]]:
    """check id -> findings, for checks that found anything."""
    results = lint_manifest({"packages": list(packages)}, MATRIX)
    return {r.check: [(f.severity, f.message) for f in r.findings]
            for r in results if r.findings}


def test_a_clean_manifest_has_no_findings() -> None:
    assert lint(package("bmc", "BMC", "2.10.3", reset="bmc"),
                package("bios", "BIOS", "1.18.0", requires=["bmc"])) == {}


def test_two_cycles_are_each_reported_once() -> None:
    found = lint(package("a", "BIOS", "9.0", requires=["b"]),
                 package("b", "NIC", "99.0", requires=["a"]),
                 package("c", "RAID", "1.0", requires=["c"]))
    assert found == {"lint.dependency_cycles": [
        (Severity.ERROR, "dependency cycle: a -> b -> a (no order can install these packages)"),
        (Severity.ERROR, "dependency cycle: c -> c (no order can install these packages)"),
    ]}


def test_a_dependency_must_cover_the_dependent_models() -> None:
    found = lint(package("bmc", "BMC", "2.10.3", reset="bmc"),
                 package("bios", "BIOS", "2.6.1", models=["FF-1U-R450", "FF-2U-R750"],
                         requires=["bmc"]))
    assert found == {"lint.dependencies_resolve": [
        (Severity.ERROR, "package 'bios' requires 'bmc', which does not cover model(s) "
                         "FF-2U-R750")]}


@pytest.mark.parametrize(("component", "reset", "severity"), [
    ("BMC", "host", Severity.ERROR),
    ("BMC", "none", Severity.ERROR),
    ("BIOS", "bmc", Severity.ERROR),
    ("NIC", "bmc", Severity.ERROR),
    ("RAID", "bmc", Severity.WARNING),
])
def test_reset_rule(component: str, reset: str, severity: Severity) -> None:
    found = lint(package("p", component, "99.0", reset=reset))
    [(got_severity, message)] = found["lint.reset_consistent"]
    assert got_severity is severity
    assert message.startswith(f"package 'p' updates {component} but declares reset '{reset}'")


@pytest.mark.parametrize(("component", "reset"), [
    ("BMC", "bmc"), ("BIOS", "host"), ("NIC", "host"), ("NIC", "none"), ("RAID", "host"),
    ("CPLD", "none"),
])
def test_reset_rule_accepts(component: str, reset: str) -> None:
    assert lint(package("p", component, "99.0", reset=reset)) == {}


def test_a_warning_does_not_fail_its_check() -> None:
    results = lint_manifest({"packages": [package("r", "RAID", "9.0", reset="bmc")]}, MATRIX)
    reset = next(r for r in results if r.check == "lint.reset_consistent")
    assert reset.outcome is Outcome.PASSED and len(reset.warnings) == 1


def test_equal_to_min_from_is_refused() -> None:
    found = lint(package("n", "NIC", "22.0", min_from="22.0.0"))
    assert found["lint.version_above_min_from"][0][1].startswith(
        "package 'n': version 22.0 is not above its min_from_version 22.0.0")


def test_malformed_entries_do_not_crash_the_lint() -> None:
    results = lint_manifest({"packages": ["junk", {"id": "x", "models": "FF-1U-R450",
                                                     "requires": None, "version": 3}]}, MATRIX)
    by_check = {r.check: r for r in results}
    assert by_check["lint.versions_parse"].outcome is Outcome.PASSED  # "3" is a version
    assert by_check["lint.reset_consistent"].warnings  # no component, no reset


def test_without_a_matrix_the_matrix_checks_are_skipped() -> None:
    results = lint_manifest({"packages": [package("b", "BIOS", "1.0")]}, None)
    skipped = {r.check for r in results if r.outcome is Outcome.SKIPPED}
    assert skipped == {"lint.models_in_matrix", "matrix.version_regression"}


def test_versions_are_linted_under_the_package_scheme() -> None:
    hpe = {"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)", "groups": ["int", "int"]}
    vendor = package("b", "BIOS", "P79 v1.50", min_from="P79 v1.10") | {"version_scheme": hpe}
    assert "lint.versions_parse" not in lint(vendor)
    wrong = package("b", "BIOS", "P79 v1.50") | {"version_scheme": {"type": "semver"}}
    (finding,) = lint(wrong)["lint.versions_parse"]
    assert "'P79 v1.50' is not a semver version" in finding[1]
    backwards = package("b", "BIOS", "P79 v1.10", min_from="P79 v1.50") | {
        "version_scheme": hpe}
    assert "lint.version_above_min_from" in lint(backwards)
