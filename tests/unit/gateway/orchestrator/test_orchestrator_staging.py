"""Which components a staged node hands to its BMC before the window: only those that
activate at a host reset, and only once their prerequisites are installed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from firmware_payloads import Manifest
from gateway.domain import RunProgress
from gateway.orchestrator.staging import stageable, staged_components


def _manifest() -> Manifest:
    def package(pid: str, component: str, reset: str, requires: list[str]) -> dict[str, Any]:
        return {"id": pid, "component": component, "version": "2.0", "models": ["M1"],
                "min_from_version": None, "requires": requires, "reset": reset,
                "path": f"payloads/{pid}.bin", "size": 1, "sha256": "0" * 64}

    return Manifest.from_json(json.dumps({
        "schema_version": 1, "bundle_id": "b", "release": "r", "publisher": "p",
        "packages": [package("bmc", "BMC", "bmc", []),
                     package("bios", "BIOS", "host", ["bmc"]),
                     package("cpld", "CPLD", "host", []),
                     package("nic", "NIC", "none", [])],
    }).encode())


@pytest.mark.parametrize(("planned", "expected"), [
    # The BMC restarts (disruptive), the NIC takes effect when written: never staged.
    (["bmc", "nic"], []),
    # BIOS needs the BMC package, which is planned too: it waits for the window.
    (["bmc", "bios", "cpld", "nic"], ["CPLD"]),
    # BMC already installed: BIOS can be staged.
    (["bios", "cpld"], ["BIOS", "CPLD"]),
    ([], []),
])
def test_only_host_reset_packages_with_met_prerequisites_are_staged(
        planned: list[str], expected: list[str]) -> None:
    assert stageable(_manifest(), planned) == expected


def test_staged_components_of_a_run_progress() -> None:
    assert staged_components(RunProgress()) == []
    assert staged_components(RunProgress(staged=())) == []
    assert staged_components(RunProgress(staged=("BIOS",))) == ["BIOS"]
