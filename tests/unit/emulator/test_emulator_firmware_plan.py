"""flash.plan(): which packages a BMC flashes for Targets and ForceUpdate, and why not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator.firmware.flash import plan
from firmware_payloads import Manifest


def _manifest() -> Manifest:
    def package(pid: str, component: str, version: str, requires: list[str],
                min_from: str | None = None) -> dict[str, Any]:
        return {"id": pid, "component": component, "version": version, "models": ["M1"],
                "min_from_version": min_from, "requires": requires, "reset": "none",
                "path": f"payloads/{pid}.bin", "size": 1, "sha256": "0" * 64}

    return Manifest.from_json(json.dumps({
        "schema_version": 1, "bundle_id": "b", "release": "r", "publisher": "p",
        "packages": [package("bmc", "BMC", "2.0", []),
                     package("bios", "BIOS", "1.5", ["bmc"], min_from="1.0"),
                     package("nic", "NIC", "7.1", [])],
    }).encode())


def _ids(items: list[Any]) -> list[str]:
    return [item.package.id for item in items]


@pytest.mark.parametrize(
    ("description", "installed", "components", "force", "planned", "refused"),
    [
        ("everything newer", {"BMC": "1.0", "BIOS": "1.0", "NIC": "7.0"}, None, False,
         ["bmc", "bios", "nic"], {}),
        ("targets drop a needed dependency", {"BMC": "1.0", "BIOS": "1.0", "NIC": "7.0"},
         frozenset({"BIOS", "NIC"}), False, ["nic"],
         {"bmc": "UpdateSkipped", "bios": "UpdateSkipped"}),
        ("dependency already satisfied", {"BMC": "2.0", "BIOS": "1.0", "NIC": "7.0"},
         frozenset({"BIOS"}), False, ["bios"],
         {"bmc": "UpdateSkipped", "nic": "UpdateSkipped"}),
        ("same version refused", {"BMC": "2.0", "BIOS": "1.5", "NIC": "7.1"}, None, False,
         [], {"bmc": "UpdateSkippedSameVersion", "bios": "UpdateSkippedSameVersion",
              "nic": "UpdateSkippedSameVersion"}),
        ("downgrade refused", {"BMC": "2.0", "BIOS": "1.5", "NIC": "8.0"},
         frozenset({"NIC"}), False, [], {"nic": "UpdateSkipped", "bmc": "UpdateSkipped",
                                         "bios": "UpdateSkipped"}),
        ("force re-flashes same and older", {"BMC": "2.0", "BIOS": "1.5", "NIC": "8.0"},
         frozenset({"NIC"}), True, ["nic"], {"bmc": "UpdateSkipped", "bios": "UpdateSkipped"}),
        ("below the minimum from-version", {"BMC": "2.0", "BIOS": "0.9", "NIC": "7.1"}, None,
         False, [], {"bios": "UpdateSkippedVersionTooLow", "bmc": "UpdateSkippedSameVersion",
                     "nic": "UpdateSkippedSameVersion"}),
    ],
)
def test_plan(description: str, installed: dict[str, str], components: frozenset[str] | None,
              force: bool, planned: list[str], refused: dict[str, str]) -> None:
    chosen, refusals = plan(_manifest(), "M1", installed, components=components, force=force)
    assert _ids(chosen) == planned, description
    assert {r.package.id: r.message_id.split(".")[1] for r in refusals} == refused


def test_other_models_get_nothing_and_no_refusals() -> None:
    chosen, refusals = plan(_manifest(), "OTHER", {"BMC": "1.0", "BIOS": "1.0", "NIC": "7.0"})
    assert chosen == [] and refusals == []


def test_vendor_scheme_packages_are_planned_and_refused_by_their_scheme() -> None:
    raw = {"id": "bios", "component": "BIOS", "version": "P79 v1.50", "models": ["M1"],
           "min_from_version": None, "requires": [], "reset": "host", "path": "p/bios.bin",
           "size": 1, "sha256": "0" * 64,
           "version_scheme": {"type": "regex", "pattern": r"P79 v(\d+)\.(\d+)"}}
    manifest = Manifest.from_json(json.dumps({
        "schema_version": 1, "bundle_id": "b", "release": "r", "publisher": "p",
        "packages": [raw]}).encode())
    chosen, refusals = plan(manifest, "M1", {"BIOS": "P79 v1.45"})
    assert _ids(chosen) == ["bios"] and refusals == []
    chosen, refusals = plan(manifest, "M1", {"BIOS": "P79 v1.50"})
    assert chosen == [] and [r.message_id.split(".")[1] for r in refusals] == [
        "UpdateSkippedSameVersion"]
    chosen, refusals = plan(manifest, "M1", {"BIOS": "U46 v2.90 (10/25/2024)"})
    assert chosen == [] and [r.message_id.split(".")[1] for r in refusals] == ["UpdateSkipped"]
