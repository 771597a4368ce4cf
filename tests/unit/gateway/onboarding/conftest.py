"""A gateway config with two clusters and one config-file BMC, on a real SQLite file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, load_config
from gateway.store import GatewayStore
from gateway.store.bmc_registry import BmcRegistry


@pytest.fixture
def gw_config(tmp_path: Path) -> GatewayConfig:
    (tmp_path / "secrets").mkdir()
    for name in ("n1", "n2", "n3", "fixed"):
        (tmp_path / "secrets" / name).write_text("pw\n")
    path = tmp_path / "gateway.toml"
    path.write_text(textwrap.dedent(f"""\
        [gateway]
        name = "gw"
        state_dir = "{tmp_path / 'state'}"

        [listener]
        http = "127.0.0.1:0"

        [media]
        http = "127.0.0.1:0"
        base_url = "http://127.0.0.1:1"

        [[clusters]]
        name = "hpc"
        [[clusters.groups]]
        name = "rack1"
        max_unavailable = 1
        [[clusters.groups]]
        name = "rack2"
        max_unavailable = 1

        [[bmcs]]
        name = "fixed"
        cluster = "hpc"
        group = "rack1"
        url = "https://10.9.9.9"
        username = "root"
        password_file = "secrets/fixed"
        """))
    return load_config(path)


@pytest.fixture
def registry(gw_config: GatewayConfig) -> BmcRegistry:
    gw_config.state_dir.mkdir(parents=True, exist_ok=True)
    store = GatewayStore.open(gw_config.database_url)
    return BmcRegistry(store.engine)
