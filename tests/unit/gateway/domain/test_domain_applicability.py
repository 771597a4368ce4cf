"""NodeTarget from firmware_payloads' real applicability decisions; version checks."""

from __future__ import annotations

from typing import Any

import pytest

from firmware_payloads import Manifest, explain_applicability
from gateway.domain import Applicability, NodeTarget, target_from_decisions, version_mismatches


def manifest() -> Manifest:
    def package(pid: str, component: str, version: str, requires: list[str], reset: str,
                min_from: str | None = None) -> dict[str, Any]:
        return {"id": pid, "component": component, "version": version, "models": ["M1"],
                "min_from_version": min_from, "requires": requires, "reset": reset,
                "path": f"payloads/{pid}.bin", "size": 10, "sha256": "0" * 64}

    return Manifest.from_dict({
        "schema_version": 1, "bundle_id": "b", "release": "r", "publisher": "p",
        "packages": [package("bmc-2", "BMC", "2.0.0", [], "bmc"),
                     package("bios-1.5", "BIOS", "1.5.0", ["bmc-2"], "host", min_from="1.0.0"),
                     package("nic-7.1", "NIC", "7.1", [], "none")],
    })


def target(model: str, installed: dict[str, str]) -> NodeTarget:
    return target_from_decisions(model, explain_applicability(manifest(), model, installed))


def test_update_lists_packages_in_order_expected_versions_and_resets() -> None:
    got = target("M1", {"BMC": "1.0.0", "BIOS": "1.2.0", "NIC": "7.1"})
    assert got.applicability is Applicability.UPDATE
    assert got.packages == ("bmc-2", "bios-1.5")  # BMC first: BIOS requires it
    assert got.expected == (("BIOS", "1.5.0"), ("BMC", "2.0.0"))
    assert got.resets == ("bmc", "host")


def test_other_model_is_not_applicable() -> None:
    got = target("M9", {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0"})
    assert got.applicability is Applicability.NOT_APPLICABLE and "M9" in got.reason


def test_everything_current_is_up_to_date() -> None:
    got = target("M1", {"BMC": "2.0.0", "BIOS": "1.6.0", "NIC": "7.1"})
    assert got.applicability is Applicability.UP_TO_DATE and got.packages == ()


def test_too_old_to_upgrade_from_is_not_applicable_with_the_reason() -> None:
    got = target("M1", {"BMC": "2.0.0", "BIOS": "0.9.0", "NIC": "7.1"})
    assert got.applicability is Applicability.NOT_APPLICABLE
    assert "bios-1.5" in got.reason


@pytest.mark.parametrize(
    ("installed", "mismatches"),
    [
        ({"BMC": "2.0.0", "BIOS": "1.5.0"}, []),
        ({"BMC": "2.0.0", "BIOS": "1.2.0"}, ["BIOS: expected 1.5.0, found 1.2.0"]),
        ({"BMC": "2.0.0"}, ["BIOS: expected 1.5.0, found nothing"]),
    ],
)
def test_version_mismatches(installed: dict[str, str], mismatches: list[str]) -> None:
    assert version_mismatches((("BIOS", "1.5.0"), ("BMC", "2.0.0")), installed) == mismatches
