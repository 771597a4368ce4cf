"""Cluster configuration: defaults filled per node, clear errors for bad settings."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.config import ClusterConfig, NodeSpec, starting_firmware
from emulator.errors import ConfigError


def test_models_round_robin_and_defaults_filled() -> None:
    specs = ClusterConfig(nodes=4, models=["A", "FF-4U-X900"]).node_specs()
    assert [s.model for s in specs] == ["A", "FF-4U-X900", "A", "FF-4U-X900"]
    assert specs[1].firmware == starting_firmware("FF-4U-X900")
    assert specs[0].firmware == {"BMC": "1.0.0", "BIOS": "1.0.0", "NIC": "1.0.0"}
    assert len({s.password for s in specs}) == 4  # random per BMC
    assert len({s.serial for s in specs}) == 4


def test_per_node_firmware_overrides_model_defaults() -> None:
    spec = ClusterConfig(nodes=[NodeSpec(model="FF-1U-R450", firmware={"BIOS": "1.12.0"},
                                         password="fixed-password")]).node_specs()[0]
    assert spec.firmware == {"BMC": "2.8.0", "BIOS": "1.12.0", "NIC": "22.21.0"}
    assert spec.password == "fixed-password"


@pytest.mark.parametrize(
    ("description", "settings", "error"),
    [
        ("no nodes", {"nodes": 0}, "nodes must be between"),
        ("negative flash time", {"flash_seconds": -1}, "flash_seconds"),
        ("negative restart delay", {"bmc_restart_delay_seconds": -0.5},
         "bmc_restart_delay_seconds must not be negative"),
        ("privileged base port", {"base_port": 80}, "outside 1024..65535"),
        ("ports past 65535", {"base_port": 65000, "nodes": 1000}, "run past 65535"),
        ("no models", {"models": [" "]}, "at least one model"),
    ],
)
def test_bad_settings(description: str, settings: dict[str, Any], error: str) -> None:
    config = ClusterConfig(**settings)
    with pytest.raises(ConfigError, match=error):
        config.validate()
        config.node_specs()
