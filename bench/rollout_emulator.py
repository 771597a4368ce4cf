"""The bench's emulated fleet: `fleetflash emulator serve` as a child process (every
BMC of the run, its audit log and inventory file) and its hosts powered on."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import time
from pathlib import Path

import requests
import rollout_topology


def start(work: Path, args: argparse.Namespace, public: Path, model: str,
          mix: rollout_topology.VendorMix | None = None
          ) -> tuple[subprocess.Popen[bytes], list[dict[str, str]], Path]:
    inventory = work / "inventory.json"
    audit = work / "audit.jsonl"
    fleetflash = Path(sys.executable).with_name("fleetflash")
    fleet = ["--nodes", str(args.nodes), "--models", model] if mix is None else [
        "--nodes-file", str(rollout_topology.write_nodes_file(
            work / "nodes.json", mix, args.nodes, model))]
    process = subprocess.Popen(
        [str(fleetflash), "emulator", "serve", *fleet, "--base-port", "0",
         "--trusted-key", str(public),
         "--flash-seconds", str(args.flash_seconds), "--reset-seconds", str(args.reset_seconds),
         "--bmc-restart-seconds", str(args.bmc_restart_seconds), "--audit-log", str(audit),
         "--inventory-out", str(inventory)],
        stdout=subprocess.DEVNULL, stderr=(work / "emulator.log").open("wb"))
    deadline = time.monotonic() + 300
    while not inventory.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("emulator did not start: " + (work / "emulator.log").read_text())
        time.sleep(0.2)
    return process, json.loads(inventory.read_text()), audit


def power_on(nodes: list[dict[str, str]]) -> None:
    """Emulated hosts start off; production servers run. Turn every host on."""
    def one(node: dict[str, str]) -> None:
        auth = (node["username"], node["password"])
        url = node["url"] + "/redfish/v1/Systems/1"
        requests.post(url + "/Actions/ComputerSystem.Reset", json={"ResetType": "On"},
                      auth=auth, timeout=60).raise_for_status()
        while requests.get(url, auth=auth, timeout=60).json().get("PowerState") != "On":
            time.sleep(0.2)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        list(pool.map(one, nodes))
