"""Applicability: examples on the sample bundle's shape, and hypothesis properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_payloads import (
    Manifest,
    applicable_packages,
    explain_applicability,
    is_downgrade,
    parse_version,
)

SHA = "0" * 64


def pkg(pid: str, component: str, version: str, models: list[str], *,
        requires: list[str] | None = None, min_from: str | None = None) -> dict[str, Any]:
    return {"id": pid, "component": component, "version": version, "models": models,
            "min_from_version": min_from, "requires": requires or [], "reset": "host",
            "path": f"p/{pid}.bin", "size": 1, "sha256": SHA}


def manifest(*packages: dict[str, Any]) -> Manifest:
    return Manifest.from_dict({"schema_version": 1, "bundle_id": "b", "release": "r",
                               "publisher": "p", "packages": list(packages)})


QUARTER = manifest(
    # Listed dependent-first on purpose: the order must come from `requires`.
    pkg("bios", "BIOS", "1.18.0", ["R450"], requires=["bmc"], min_from="1.12.0"),
    pkg("nic", "NIC", "22.31.6", ["R450", "X900"]),
    pkg("bmc", "BMC", "2.10.3", ["R450"], min_from="2.4.0"),
)


def actions(model: str, installed: dict[str, str]) -> dict[str, str]:
    return {d.package.id: d.action for d in explain_applicability(QUARTER, model, installed)}


def test_downgrades_apply_only_when_allowed() -> None:
    ahead = {"BMC": "2.11", "BIOS": "1.18.0", "NIC": "23"}
    assert actions("R450", ahead) == {"bmc": "skip_not_newer", "bios": "skip_not_newer",
                                      "nic": "skip_not_newer"}
    decisions = explain_applicability(QUARTER, "R450", ahead, allow_downgrade=True)
    assert {d.package.id: d.action for d in decisions} == {
        "bmc": "apply", "bios": "skip_not_newer", "nic": "apply"}  # equal stays skipped
    assert [d.reason for d in decisions if d.package.id == "bmc"] == [
        "BMC 2.11 -> 2.10.3 (downgrade)"]
    assert is_downgrade(QUARTER.packages[2], ahead)
    assert not is_downgrade(QUARTER.packages[1], {"NIC": "22.31.6"})
    assert not is_downgrade(QUARTER.packages[1], {})


def test_dependencies_first_and_only_newer() -> None:
    result = applicable_packages(QUARTER, "R450", {"BMC": "2.9", "BIOS": "1.12.0", "NIC": "22.31"})
    # Kahn's order: among packages whose dependencies are met, manifest order wins.
    assert [p.id for p in result] == ["nic", "bmc", "bios"]


@pytest.mark.parametrize(
    ("description", "model", "installed", "expected"),
    [
        ("all current", "R450", {"BMC": "2.10.3", "BIOS": "1.18", "NIC": "22.31.6"},
         {"bmc": "skip_not_newer", "bios": "skip_not_newer", "nic": "skip_not_newer"}),
        ("newer than bundle", "R450", {"BMC": "3.0", "BIOS": "1.17", "NIC": "23"},
         {"bmc": "skip_not_newer", "bios": "apply", "nic": "skip_not_newer"}),
        ("BMC too old blocks BIOS", "R450", {"BMC": "2.3.9", "BIOS": "1.12.0", "NIC": "1"},
         {"bmc": "below_min_from_version", "bios": "blocked_dependency", "nic": "apply"}),
        ("BIOS below its minimum", "R450", {"BMC": "2.5", "BIOS": "1.11", "NIC": "1"},
         {"bmc": "apply", "bios": "below_min_from_version", "nic": "apply"}),
        ("other model", "X900", {"BMC": "1", "BIOS": "1", "NIC": "1"},
         {"bmc": "not_applicable_model", "bios": "not_applicable_model", "nic": "apply"}),
        ("component absent on node", "R450", {"BIOS": "1.12.0", "NIC": "22.31.6"},
         {"bmc": "not_applicable_model", "bios": "blocked_dependency", "nic": "skip_not_newer"}),
        ("build suffix counts as newer", "R450", {"BMC": "2.10.3", "BIOS": "1.18.0-b1", "NIC": "1"},
         {"bmc": "skip_not_newer", "bios": "skip_not_newer", "nic": "apply"}),
    ],
)
def test_decision_table(description: str, model: str, installed: dict[str, str],
                        expected: dict[str, str]) -> None:
    assert actions(model, installed) == expected, description


def test_unreadable_installed_version_makes_only_its_package_unknown() -> None:
    decisions = {d.package.id: d for d in explain_applicability(
        QUARTER, "R450", {"BMC": "2.5", "BIOS": "P79 v1.45", "NIC": "1"})}
    assert decisions["bios"].action == "unknown_version"
    assert "'P79 v1.45'" in decisions["bios"].reason
    assert decisions["bmc"].action == "apply"
    assert decisions["nic"].action == "apply"


def test_untouched_component_is_never_read() -> None:
    # X900 gets only the NIC package: its vendor-format BIOS and BMC strings are irrelevant.
    assert actions("X900", {"BMC": "1.45.455b66-rev4", "BIOS": "U46 v2.90 (10/25/2024)",
                            "NIC": "1"}) == {
        "bmc": "not_applicable_model", "bios": "not_applicable_model", "nic": "apply"}


def test_wrong_model_is_not_hidden_by_an_unreadable_version() -> None:
    reasons = [d.reason for d in explain_applicability(QUARTER, "PowerEdge R640",
                                                       {"BIOS": "P79 v1.45"})]
    assert reasons and all(r == "not built for model PowerEdge R640" for r in reasons)


# --- properties -------------------------------------------------------------

MODELS = ["A", "B", "C"]
COMPONENTS = ["BMC", "BIOS", "NIC", "RAID"]
version_text = st.builds(
    lambda nums, build: ".".join(map(str, nums)) + (f"-b{build}" if build is not None else ""),
    st.lists(st.integers(0, 4), min_size=1, max_size=3),
    st.none() | st.integers(0, 3),
)


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    created: list[dict[str, Any]] = []
    for component in COMPONENTS:
        remaining = [m for m in MODELS if draw(st.booleans())]
        while remaining:  # split the models among up to a few packages of this component
            take = draw(st.integers(1, len(remaining)))
            models, remaining = remaining[:take], remaining[take:]
            covering = [p["id"] for p in created if set(models) <= set(p["models"])]
            requires = draw(st.lists(st.sampled_from(covering), unique=True, max_size=2)
                            if covering else st.just([]))
            created.append(pkg(f"p{len(created)}", component, draw(version_text), models,
                               requires=requires, min_from=draw(st.none() | version_text)))
    if not created:
        created = [pkg("only", "BMC", "1.0", ["A"])]
    return manifest(*draw(st.permutations(created)))


installed_maps = st.dictionaries(st.sampled_from(COMPONENTS), version_text)


@settings(max_examples=300)
@given(manifests(), st.sampled_from(MODELS), installed_maps)
def test_applying_the_result_leaves_nothing_to_apply(
    m: Manifest, model: str, installed: dict[str, str]
) -> None:
    result = applicable_packages(m, model, installed)
    after = dict(installed)
    for package in result:
        after[package.component] = package.version
    assert applicable_packages(m, model, after) == []


@settings(max_examples=300)
@given(manifests(), st.sampled_from(MODELS), installed_maps)
def test_dependencies_always_come_first(
    m: Manifest, model: str, installed: dict[str, str]
) -> None:
    result = applicable_packages(m, model, installed)
    position = {p.id: i for i, p in enumerate(result)}
    for package in result:
        for dep_id in package.requires:
            dep = m.package(dep_id)
            if dep_id in position:
                assert position[dep_id] < position[package.id]
            else:  # not applied now, so it must already be satisfied on the node
                assert parse_version(installed[dep.component]) >= parse_version(dep.version)


@settings(max_examples=300)
@given(manifests(), st.sampled_from(MODELS), installed_maps)
def test_every_applied_package_is_an_allowed_upgrade(
    m: Manifest, model: str, installed: dict[str, str]
) -> None:
    decisions = explain_applicability(m, model, installed)
    assert sorted(d.package.id for d in decisions) == sorted(p.id for p in m.packages)
    for decision in decisions:
        if decision.action != "apply":
            continue
        package = decision.package
        have = parse_version(installed[package.component])
        assert model in package.models
        assert have < parse_version(package.version)
        if package.min_from_version is not None:
            assert have >= parse_version(package.min_from_version)
