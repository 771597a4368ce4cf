"""The `lab up` state file contract (docs/lab.md), `lab status`, `lab down`, and how the lab
commands refuse bad input."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import requests

import firmware_payloads as fp
from emulator.publisher.sender import (
    PublishError,
    send_indication,
    update_available_indication,
)
from gateway.config import load_config
from lab import lab_processes
from lab.runner import MARKERS
from tests.e2e.conftest import FIXTURES, TOPOLOGIES, LabFactory, fleetflash

CONTRACT = ("gateway.cim_url", "gateway.cim_username", "gateway.cim_password",
            "gateway.api_url", "gateway.api_token", "gateway.config", "gateway.pid",
            "publisher.url", "emulator.inventory", "audit_log", "keys.public", "keys.private")
TOPOLOGY_NODES = ["cf-r1-1", "cf-r1-2", "cf-r1-3", "cf-r2-1", "cf-r2-2", "cf-r2-3"]


def test_lab_up_writes_the_state_file_contract_and_down_stops_everything(
        lab_up: LabFactory) -> None:
    lab = lab_up(FIXTURES / "canary-fails.yaml")
    assert stat.S_IMODE(lab.state_file.stat().st_mode) == 0o600  # it holds secrets
    state = lab.state
    for key in CONTRACT:
        assert state.get(key) not in (None, ""), key

    # The emulator: one BMC per topology node, each answering with its credentials.
    inventory = state.get("emulator.inventory")
    assert len(inventory) == 6
    for bmc in inventory:
        system = requests.get(bmc["url"] + "/redfish/v1/Systems/1", timeout=10,
                              auth=(bmc["username"], bmc["password"]))
        assert system.status_code == 200 and system.json()["PowerState"] == "On"
        assert requests.get(bmc["url"] + "/redfish/v1/Systems/1", timeout=10).status_code == 401

    # The gateway: its config is a real file, the token works, the nodes carry topology names.
    assert load_config(state.get("gateway.config")).name == "lab-canary-fails"
    assert lab_processes.running(state.get("gateway.pid"), MARKERS["gateway"])
    nodes = lab.api().get_all("/api/nodes")
    assert sorted(n["id"] for n in nodes) == TOPOLOGY_NODES
    assert requests.get(state.api_url + "/api/nodes", timeout=10).status_code == 401

    # The keys are a pair, and the public one is what the gateway trusts.
    public = fp.load_public_key(state.get("keys.public"))
    private = fp.load_private_key(state.get("keys.private"))
    assert fp.key_id(private.public_key()) == fp.key_id(public)
    assert state.get("keys.public") in Path(state.get("gateway.config")).read_text()

    # The CIM listener takes the state file's credentials, and refuses others.
    alert = update_available_indication(
        image_uri=state.get("publisher.url") + "missing.iso", image_sha256="0" * 64,
        bundle_id="probe", release="probe")
    with pytest.raises(PublishError, match="401"):
        send_indication(state.get("gateway.cim_url"), alert,
                        user=state.get("gateway.cim_username"), password="wrong")
    assert requests.get(state.get("publisher.url") + "missing.iso", timeout=10).status_code == 404

    status = fleetflash("lab", "status", "--state-file", str(lab.state_file))
    assert status.returncode == 0, status.stderr
    for expected in ("gateway", "publisher", "emulator", "running", "cf", "No campaign yet"):
        assert expected in status.stdout, expected

    # A second lab on the same state file is refused while this one runs.
    again = fleetflash("lab", "up", str(FIXTURES / "canary-fails.yaml"),
                       "--state-file", str(lab.state_file))
    assert again.returncode == 1 and "already running" in again.stderr

    down = fleetflash("lab", "down", "--state-file", str(lab.state_file))
    assert down.returncode == 0, down.stderr
    assert down.stdout.count(": stopped") == 3
    assert not [name for name, pid in lab.state.pids().items()
                if lab_processes.running(pid, MARKERS[name])]
    for kept in (lab.state_file, Path(state.get("gateway.config")), Path(state.get("audit_log")),
                 Path(state.get("keys.private"))):
        assert kept.exists(), kept
    assert "stopped" in fleetflash("lab", "status", "--state-file", str(lab.state_file)).stdout
    assert "was not running" in fleetflash("lab", "down", "--state-file",
                                           str(lab.state_file)).stdout


@pytest.mark.parametrize(("description", "args", "message"), [
    ("missing topology", ["lab", "up", "no-such.yaml"], "cannot read topology"),
    ("invalid topology", ["lab", "up", "{bad}"], "no-such"),
    ("a topology without nodes", ["lab", "up", "{matrix}"], "has no cluster nodes to run"),
    ("no state file", ["lab", "status", "--state-file", "{tmp}/none.json"], "no lab state"),
    ("not a state file", ["lab", "down", "--state-file", "{tmp}/junk.json"],
     "not a lab state file"),
    ("publish a non-.iso file", ["lab", "publish", "--state-file", "{tmp}/lab.json", "{bad}"],
     "the publisher serves .iso bundles only"),
    ("publish a file that is no bundle",
     ["lab", "publish", "--state-file", "{tmp}/lab.json", "{tmp}/junk.iso"], "junk.iso: "),
])
def test_lab_commands_refuse_bad_input_with_one_clear_line(
        tmp_path: Path, description: str, args: list[str], message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nclusters:\n  - name: c\n    failure_budget: 0\n    groups:\n"
                   "      - {name: g, max_unavailable: 1, nodes: [{name: n1, model: M}]}\n"
                   "faults:\n  - {node: no-such, kind: flash_fails}\n")
    (tmp_path / "junk.json").write_text(json.dumps({"hello": 1}))
    (tmp_path / "junk.iso").write_bytes(b"not an ISO image" * 100)
    (tmp_path / "publisher").mkdir()
    (tmp_path / "lab.json").write_text(json.dumps({"gateway": {}, "workdir": str(tmp_path)}))
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{bad}", str(bad))
            .replace("{matrix}", str(TOPOLOGIES / "matrix.yaml")) for a in args]
    result = fleetflash(*argv)
    assert result.returncode != 0, description
    assert message in result.stderr, (description, result.stderr)
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "publisher").iterdir())  # nothing was put on the publisher
