"""`fleetflash lab demo --topology mixed-vendors`: 24 BMCs of six families (dmtf, openbmc,
idrac, ilo, xcc, supermicro) in redundancy groups that mix them, web over virtual media
and db over SimpleUpdate. Every invariant holds, every family's nodes end done with their
versions read back, and each BMC really presented its family while it was updated."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator.audit import read_audit_log
from emulator.personalities import PERSONALITIES
from gateway.api.client import ApiClient
from lab.lab_state import LabState, read_state
from lab.topology import load_topology
from tests.e2e.conftest import TOPOLOGIES, fleetflash

TOPOLOGY = load_topology(TOPOLOGIES / "mixed-vendors.yaml")
CHECKS = ("no node flashed twice", "max down per group within allowance",
          "no media left inserted", "failed node quarantined, the rest completed",
          "every campaign completed")
# What the sample bundle installs, per model (firmware_payloads/samples/quarterly-2026q4.yaml).
TARGET = {"FF-1U-R450": {"BMC": "2.10.3", "BIOS": "1.18.0", "NIC": "22.31.6"},
          "FF-2U-R750": {"BMC": "2.10.3", "BIOS": "2.6.1", "NIC": "22.31.6"},
          "FF-4U-X900": {"BMC": "3.2.1-b17", "BIOS": "4.1.0", "NIC": "28.39.1002"}}


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, LabState]]:
    """The demo run with --keep-running (so its BMCs can be asked), taken down after."""
    state_file = tmp_path / "state.json"
    result = fleetflash("lab", "demo", "mixed-vendors", "--state-file", str(state_file),
                        "--workdir", str(tmp_path / "lab"), "--keep-running", timeout=300)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield result.stdout, read_state(state_file)
    finally:
        if state_file.exists():
            fleetflash("lab", "down", "--state-file", str(state_file))


def redfish(bmc: dict[str, Any], path: str) -> dict[str, Any]:
    response = requests.get(bmc["url"] + path, auth=(bmc["username"], bmc["password"]),
                            timeout=10)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def member(bmc: dict[str, Any], collection: str) -> dict[str, Any]:
    (first, *_) = redfish(bmc, collection)["Members"]
    return redfish(bmc, first["@odata.id"])


def test_the_topology_mixes_every_personality_in_every_group() -> None:
    assert len(TOPOLOGY.nodes) >= 24 and len(TOPOLOGY.clusters) == 2
    families = Counter(node.personality for node in TOPOLOGY.nodes)
    assert set(families) == set(PERSONALITIES) and min(families.values()) >= 2
    for cluster in TOPOLOGY.clusters:
        assert {n.personality for n in TOPOLOGY.nodes if n.cluster == cluster.name} == set(
            PERSONALITIES), cluster.name
        for group in cluster.groups:
            families_in_group = {n.personality for n in TOPOLOGY.nodes if n.group == group.name}
            assert 2 <= len(families_in_group) <= 3, group.name


def test_mixed_vendor_demo_updates_every_family_and_every_invariant_holds(
        demo: tuple[str, LabState]) -> None:
    out, state = demo
    assert "demo passed" in out and "FAIL" not in out
    for check in CHECKS:
        assert re.search(rf"{re.escape(check)}\s*│\s*PASS", out), check
    assert len(re.findall(r"│ compliant │", out)) == len(TOPOLOGY.nodes)

    # The emulator's record: every node got BMC, BIOS and NIC written exactly once, and
    # virtual media was used (web) and left ejected.
    records = list(read_audit_log(state.audit_log))
    written = Counter(state.node_of_bmc[r["bmc"]] for r in records if r["event"] == "flash_end")
    assert written == {node.name: 3 for node in TOPOLOGY.nodes}
    media = Counter(r["event"] for r in records if r["event"].startswith("media_"))
    over_media = sum(1 for node in TOPOLOGY.nodes if node.cluster == "web")
    assert media["media_insert"] == media["media_eject"] == over_media

    # Each BMC, asked now, shows its family's identity and the bundle's versions, and the
    # gateway has every node of every family done.
    inventory = {entry["id"]: entry for entry in state.get("emulator.inventory")}
    bmc_of = {node: bmc for bmc, node in state.node_of_bmc.items()}
    api = ApiClient(state.api_url, state.api_token, timeout=10)
    steps = {node["id"]: node.get("step") for node in api.get_all("/api/nodes")}
    done_by_family: Counter[str | None] = Counter()
    for node in TOPOLOGY.nodes:
        bmc = inventory[bmc_of[node.name]]
        family = PERSONALITIES[node.personality or "dmtf"]
        system = member(bmc, "/redfish/v1/Systems")
        manager = member(bmc, "/redfish/v1/Managers")
        assert system["Manufacturer"] == family.manufacturer, node.name
        assert manager["Model"] == family.manager_model.format(model=node.model), node.name
        assert set(manager.get("Oem") or {}) == set(family.oem), node.name
        firmware = redfish(bmc, "/redfish/v1/UpdateService/FirmwareInventory")["Members"]
        versions = {redfish(bmc, item["@odata.id"]).get("Version") for item in firmware}
        assert set(TARGET[node.model].values()) <= versions, (node.name, versions)
        if steps[node.name] == "done":
            done_by_family[family.name] += 1
    assert done_by_family == Counter(node.personality for node in TOPOLOGY.nodes)
