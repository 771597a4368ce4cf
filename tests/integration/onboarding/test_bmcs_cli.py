"""`fleetflash bmcs import|add|list|remove` as an operator runs them, each a new
process on the same SQLite file; the orchestration the gateway builds at start-up
holds the registered BMCs next to the config file's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gateway.config import load_config
from gateway.media.cache import ImageCache
from gateway.orchestrator.wiring import build_orchestration
from gateway.store import GatewayStore
from tests.conftest import REPO_ROOT
from tests.support.gateway_toml import bmc_toml, cluster_toml, gateway_toml, write_gateway_config

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], cwd=REPO_ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)


def _config(tmp_path: Path) -> Path:
    (tmp_path / "pw").write_text("secret\n")
    return write_gateway_config(
        tmp_path, gateway_toml(tmp_path / "state"), cluster_toml("hpc", ["rack1"]),
        bmc_toml("fixed", "hpc", "rack1", "https://127.0.0.1:9", password_file="pw"))


def test_import_survives_restarts_and_reaches_the_orchestrator(tmp_path: Path) -> None:
    config = _config(tmp_path)
    inventory = tmp_path / "bmcs.csv"
    inventory.write_text("name,group,url,username,password_file\n"
                         "n1,rack1,https://127.0.0.1:11,root,pw\n"
                         "n2,rack1,https://127.0.0.1:12,root,pw\n"
                         "n3,rack7,https://127.0.0.1:13,root,pw\n")
    common = ["--config", str(config), "--cluster", "hpc"]
    dry = _cli("bmcs", "import", str(inventory), *common, "--dry-run")
    assert dry.returncode == 1  # a refused row
    assert "would add    n1" in dry.stdout
    assert f"refused {inventory}:4:" in dry.stderr and "rack7" in dry.stderr
    refused = _cli("bmcs", "import", str(inventory), *common)
    assert refused.returncode == 1 and "nothing imported" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = json.loads(_cli("bmcs", "list", "--config", str(config), "--json").stdout)
    assert [b["name"] for b in listed] == ["fixed"]

    taken = _cli("bmcs", "import", str(inventory), *common, "--partial")
    assert taken.returncode == 1 and "2 added" in taken.stderr
    again = _cli("bmcs", "import", str(inventory), *common, "--partial")
    assert "0 added, 0 updated, 2 unchanged, 1 refused" in again.stderr
    listed = json.loads(_cli("bmcs", "list", "--config", str(config), "--json").stdout)
    assert [(b["name"], b["source"]) for b in listed] == [
        ("fixed", "config"), ("n1", f"import:{inventory}"), ("n2", f"import:{inventory}")]

    loaded = load_config(config)
    store = GatewayStore.open(loaded.database_url)
    try:
        orchestration = build_orchestration(loaded, store, ImageCache(tmp_path / "c", 10**9))
        assert orchestration is not None
        endpoints = orchestration.orchestrator.clusters["hpc"].endpoints
        assert sorted(endpoints) == ["fixed", "n1", "n2"]
        assert endpoints["n2"].url == "https://127.0.0.1:12"
    finally:
        store.close()

    removed = _cli("bmcs", "remove", "n1", "--config", str(config))
    assert removed.returncode == 0, removed.stderr
    nope = _cli("bmcs", "remove", "fixed", "--config", str(config))
    assert nope.returncode == 1 and "not in the registry" in nope.stderr
    added = _cli("bmcs", "add", "n9", "--config", str(config), "--cluster", "hpc",
                 "--group", "rack1", "--url", "https://127.0.0.1:12", "--username", "u",
                 "--password-file", str(tmp_path / "pw"))
    assert added.returncode == 1 and "already registered by BMC 'n2'" in added.stderr
    added = _cli("bmcs", "add", "n9", "--config", str(config), "--cluster", "hpc",
                 "--group", "rack1", "--url", "https://127.0.0.1:19", "--username", "u",
                 "--password-file", str(tmp_path / "pw"))
    assert added.returncode == 0, added.stderr
    listed = json.loads(_cli("bmcs", "list", "--config", str(config), "--json").stdout)
    assert [(b["name"], b["source"]) for b in listed][-1] == ("n9", "cli")
