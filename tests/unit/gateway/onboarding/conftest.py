"""A gateway config with two clusters and one config-file BMC, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import GatewayConfig, load_config
from gateway.store import GatewayStore
from gateway.store.bmc_registry import BmcRegistry
from tests.support.gateway_toml import bmc_toml, cluster_toml, gateway_toml, write_gateway_config


@pytest.fixture
def gw_config(tmp_path: Path) -> GatewayConfig:
    (tmp_path / "secrets").mkdir()
    for name in ("n1", "n2", "n3", "fixed"):
        (tmp_path / "secrets" / name).write_text("pw\n")
    return load_config(write_gateway_config(
        tmp_path, gateway_toml(tmp_path / "state"), cluster_toml("hpc", ["rack1", "rack2"]),
        bmc_toml("fixed", "hpc", "rack1", "https://10.9.9.9", password_file="secrets/fixed")))


@pytest.fixture
def registry(gw_config: GatewayConfig) -> BmcRegistry:
    gw_config.state_dir.mkdir(parents=True, exist_ok=True)
    store = GatewayStore.open(gw_config.database_url)
    return BmcRegistry(store.engine)
