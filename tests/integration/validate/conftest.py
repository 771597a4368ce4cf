"""Fixtures for `fleetflash validate` CLI tests: a reduced matrix and bundle builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_payloads import load_private_key
from tests.conftest import TestKeys
from tests.unit.lab.conftest import BROKEN_BUNDLES, build_unchecked

# Every model the broken specs name, one starting point each, one delivery:
# small enough for one test, wide enough that the lint's model check passes.
REDUCED_MATRIX = """\
name: reduced-matrix
emulator: {flash_seconds: 0.05, reset_seconds: 0.05, bmc_restart_seconds: 0.1}
matrix:
  deliveries: [simple_update]
  models:
    FF-1U-R450: [{name: previous, firmware: {BMC: "2.8.1", BIOS: "1.16.0", NIC: "22.21.0"}}]
    FF-2U-R750: [{name: previous, firmware: {BMC: "2.8.1", BIOS: "2.4.0", NIC: "22.21.0"}}]
    FF-4U-X900: [{name: previous, firmware: {BMC: "3.1.0", BIOS: "4.0.0", NIC: "28.36.1"}}]
    FF-1U-R350: [{name: previous, firmware: {BMC: "1.9.0", BIOS: "1.4.0", NIC: "20.8.0"}}]
"""


@pytest.fixture
def reduced_matrix(tmp_path: Path) -> Path:
    path = tmp_path / "reduced-matrix.yaml"
    path.write_text(REDUCED_MATRIX)
    return path


@pytest.fixture
def spec_bundle(tmp_path: Path, test_keys: TestKeys) -> Callable[[str], Path]:
    """spec_bundle("wrong-model") -> that broken spec built and signed with the test key.

    "bad-signature" is signed with the other (untrusted) test key;
    "bad-signature-trusted" is the same valid spec signed with the trusted key.
    """
    def build(name: str) -> Path:
        key = test_keys.other_private if name == "bad-signature" else test_keys.private
        spec = name.removesuffix("-trusted")
        return build_unchecked(BROKEN_BUNDLES / f"{spec}.yaml", load_private_key(key),
                               tmp_path / f"{name}.iso")
    return build
