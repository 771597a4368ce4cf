"""`fleetflash emulator serve` as a user runs it: inventory once every BMC answers,
runs until interrupted, clean one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]


def _fleetflash(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, "-m", "lab.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_serve_writes_inventory_and_stops_on_interrupt(tmp_path: Path, test_keys: Any) -> None:
    inventory = tmp_path / "inventory.json"
    audit = tmp_path / "audit.jsonl"
    process = _fleetflash("emulator", "serve", "--nodes", "3", "--base-port", "0",
                          "--models", "FF-1U-R450,FF-4U-X900", "--trusted-key",
                          str(test_keys.public), "--audit-log", str(audit),
                          "--inventory-out", str(inventory), "--flash-seconds", "0.1")
    try:
        wait_until(lambda: inventory.exists() or process.poll() is not None, 60,
                   describe="no inventory")
        assert process.poll() is None, process.communicate()[1]
        nodes = json.loads(inventory.read_text())
        assert [n["id"] for n in nodes] == ["bmc-0000", "bmc-0001", "bmc-0002"]
        assert [n["model"] for n in nodes] == ["FF-1U-R450", "FF-4U-X900", "FF-1U-R450"]
        assert set(nodes[0]) == {"id", "url", "username", "password", "model", "serial"}
        assert inventory.stat().st_mode & 0o077 == 0  # it holds passwords
        for node in nodes:
            assert node["url"].startswith("http://127.0.0.1:")
            system = requests.get(node["url"] + "/redfish/v1/Systems/1",
                                  auth=(node["username"], node["password"]), timeout=5).json()
            assert system["Model"] == node["model"] and system["SerialNumber"] == node["serial"]
        admin = json.loads(inventory.with_suffix(".admin.json").read_text())
        faults = requests.get(admin["admin_url"] + "/faults", timeout=5,
                              headers={"Authorization": f"Bearer {admin['admin_token']}"})
        assert faults.json() == {"bmc-0000": [], "bmc-0001": [], "bmc-0002": []}
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "emulator stopped" in out
    with pytest.raises(requests.ConnectionError):
        requests.get(nodes[0]["url"] + "/redfish/v1", timeout=2)


@pytest.mark.parametrize(
    ("description", "args", "expected"),
    [
        ("no node count", [], "--nodes"),
        ("zero nodes", ["--nodes", "0"], "--nodes"),
        ("key file missing", ["--nodes", "1", "--trusted-key", "/nonexistent.pub"],
         "/nonexistent.pub"),
        ("fault for a bad kind", ["--nodes", "1", "--base-port", "0", "--fault",
                                  "bmc-0000=meteor"], "unknown fault kind"),
        ("fault for an unknown BMC", ["--nodes", "1", "--base-port", "0", "--fault",
                                      "bmc-0099=latency"], "bmc-0099"),
    ],
)
def test_bad_input_gets_one_clear_line(description: str, args: list[str],
                                       expected: str) -> None:
    process = _fleetflash("emulator", "serve", *args)
    _out, err = process.communicate(timeout=60)
    assert process.returncode != 0, description
    assert expected in err
    assert "Traceback" not in err


def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-key.pub"
    bogus.write_text("hello\n")
    process = _fleetflash("emulator", "serve", "--nodes", "1", "--base-port", "0",
                          "--trusted-key", str(bogus))
    _out, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "not-a-key.pub" in err and "Traceback" not in err
