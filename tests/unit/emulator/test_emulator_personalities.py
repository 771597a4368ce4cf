"""Personalities: named BMC families (identity + quirks), chosen on the command line or
per topology node; an unknown one, or one contradicting a node's own quirks, is
refused in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from emulator.cli import emulator
from emulator.cluster import EmulatedCluster
from emulator.config import ClusterConfig, NodeSpec, starting_firmware
from emulator.errors import ConfigError
from emulator.personalities import DEFAULT_PERSONALITY, PERSONALITIES, quirks_with
from emulator.quirks import CATALOGUE, parse_quirks
from lab.topology import TopologyError, parse_topology
from lab.topology_emulator import emulator_node
from tests.unit.lab.test_lab_topology_errors import GOOD

# The error table's valid topology, its first node given a personality.
TOPOLOGY = GOOD.replace('- {name: "n[1-3]", model: M1}',
                        '- {name: "n1", model: M1, personality: idrac}\n'
                        '          - {name: "n[2-3]", model: M1}')


def test_every_personality_is_a_family_of_known_quirks() -> None:
    assert {"dmtf", "openbmc", "idrac", "ilo", "xcc", "supermicro"} <= set(PERSONALITIES)
    assert DEFAULT_PERSONALITY == "dmtf" and not PERSONALITIES["dmtf"].quirks
    for found in PERSONALITIES.values():
        assert set(found.quirks) <= set(CATALOGUE), found.name
        found.parsed_quirks()  # no contradiction inside a personality
        assert found.manufacturer and found.models and found.manager_model, found.name


def test_a_node_quirk_contradicting_its_personality_is_refused_naming_both() -> None:
    own = parse_quirks(["vmedia-insert-rejects-inserted-writeprotected"])
    with pytest.raises(ConfigError, match=re.escape(
            "personality 'xcc' with the node's own quirks: quirks")):
        quirks_with("xcc", own)
    assert "session-limit" in quirks_with("idrac", parse_quirks(["session-limit=9"]))
    assert quirks_with("idrac", parse_quirks(["session-limit=9"])).value("session-limit") == 9


@pytest.mark.parametrize("where", ["option", "nodes file"])
def test_serve_refuses_an_unknown_personality_in_one_line(where: str, tmp_path: Path) -> None:
    nodes_file = tmp_path / "nodes.json"
    nodes_file.write_text(json.dumps([{"model": "M1", "personality": "cray"}]))
    chosen = (["--nodes", "1", "--personality", "cray"] if where == "option"
              else ["--nodes-file", str(nodes_file)])
    result = CliRunner().invoke(emulator, ["serve", "--base-port", "0", *chosen])
    assert result.exit_code != 0
    assert "unknown personality 'cray'" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_serve_refuses_a_quirk_contradicting_the_personality_in_one_line() -> None:
    result = CliRunner().invoke(emulator, [
        "serve", "--nodes", "1", "--base-port", "0", "--personality", "xcc",
        "--quirk", "vmedia-insert-rejects-inserted-writeprotected"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "Error: personality 'xcc' with the node's own quirks: quirks "
        "'vmedia-insert-needs-inserted' and 'vmedia-insert-rejects-inserted-writeprotected' "
        "contradict each other"]


def test_a_family_model_starts_at_versions_in_the_family_style() -> None:
    idrac = ClusterConfig(nodes=[NodeSpec(model="PowerEdge R650", personality="idrac"),
                                 NodeSpec(model="FF-1U-R450", personality="idrac")])
    own, other = idrac.node_specs()
    assert own.firmware is not None and own.firmware["BMC"] == "7.00.00.171"
    assert other.firmware == starting_firmware("FF-1U-R450")  # not one of its models


@pytest.mark.parametrize("name", ["xcc", "dmtf"])
def test_a_personality_shows_its_identity_and_quirks_over_http(name: str) -> None:
    chosen = PERSONALITIES[name]
    with EmulatedCluster(nodes=[NodeSpec(model="M1", personality=name)], flash_seconds=0.1,
                         reset_seconds=0.1, bmc_restart_seconds=0.3) as cluster:
        node = cluster.inventory[0]
        session = requests.Session()
        session.auth = (node["username"], node["password"])
        url = node["url"] + "/redfish/v1"
        system = session.get(url + "/Systems/1").json()
        manager = session.get(url + "/Managers/1").json()
        insert = session.post(url + "/Managers/1/VirtualMedia/CD/Actions/"
                              "VirtualMedia.InsertMedia", json={"Image": "http://127.0.0.1:9/a"})
    assert system["Manufacturer"] == chosen.manufacturer
    if name == "xcc":
        assert manager["Model"] == "Lenovo XClarity Controller"
        assert set(manager["Oem"]) == {"Lenovo"}
        assert insert.status_code == 400  # its vmedia-insert-needs-inserted
    else:
        assert manager["Model"] == "M1 BMC" and "Oem" not in manager
        assert insert.status_code == 204


def test_topology_nodes_name_their_personality() -> None:
    topology = parse_topology(TOPOLOGY, "x.yaml")
    first, second, _third = topology.nodes
    assert (first.personality, second.personality) == ("idrac", None)
    spec = emulator_node(topology, first)
    assert spec.personality == "idrac"
    broken = TOPOLOGY.replace("personality: idrac", "personality: cray")
    with pytest.raises(TopologyError, match=re.escape(
            "x.yaml:12: clusters[0].groups[0].nodes[0].personality: must be one of dmtf, ")):
        parse_topology(broken, "x.yaml")
