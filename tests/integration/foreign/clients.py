"""Redfish clients this project did not write, run as a user would against the emulator.

- Ansible community.general ``redfish_info`` / ``redfish_command`` (the ``ansible`` pip
  package bundles the collection), through ``ansible-playbook`` on localhost with the
  JSON stdout callback, so a test reads each task's result as data.
- DMTF redfish-utilities (pip ``redfish-utilities``): ``rf_update.py``,
  ``rf_sys_inventory.py``, ``rf_firmware_inventory.py``, ... as console scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Bmc:
    """One emulated BMC as a client is given it."""

    url: str
    username: str
    password: str

    @classmethod
    def of(cls, node: Mapping[str, str]) -> Bmc:
        return cls(node["url"], node["username"], node["password"])

    @property
    def authority(self) -> str:
        """host:port, what Ansible's ``baseuri`` wants (it always speaks HTTPS)."""
        return urlsplit(self.url).netloc


@dataclass(frozen=True)
class PlaybookRun:
    returncode: int
    results: list[dict[str, Any]]  # one per task, in order
    stderr: str

    def result(self, index: int) -> dict[str, Any]:
        return self.results[index]

    def facts(self, index: int) -> dict[str, Any]:
        facts: dict[str, Any] = self.results[index]["redfish_facts"]
        return facts


def run_playbook(workdir: Path, bmc: Bmc, tasks: Sequence[Mapping[str, Any]], *,
                 timeout_s: int = 20, wall_s: float = 240) -> PlaybookRun:
    """Run ``tasks`` (each ``{module: {args}}`` plus task keywords) on localhost with
    ``baseuri``/``username``/``password``/``validate_certs: false`` added to every
    community.general redfish module. Every task keeps going after a failure
    (``ignore_errors``), so a test sees each result."""
    connection = {"baseuri": bmc.authority, "username": bmc.username,
                  "password": bmc.password, "validate_certs": False, "timeout": timeout_s}
    play_tasks = []
    for task in tasks:
        entry: dict[str, Any] = {"ignore_errors": True}
        for key, value in task.items():
            if key.startswith("community.general.redfish_"):
                entry[key] = {**connection, **value}
            else:
                entry[key] = value
        play_tasks.append(entry)
    playbook = workdir / "playbook.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "connection": "local",
                                         "gather_facts": False, "tasks": play_tasks}]))
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_LOCALHOST_WARNING": "False", "ANSIBLE_HOME": str(workdir / "ansible-home"),
           "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1"}
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook),
         "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, env=env, cwd=workdir, timeout=wall_s, check=False)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"ansible-playbook printed no JSON (rc {done.returncode}):\n"
                             f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}") from exc
    results = [task["hosts"]["localhost"] for play in report["plays"] for task in play["tasks"]]
    return PlaybookRun(done.returncode, results, done.stderr)


@dataclass(frozen=True)
class ToolRun:
    returncode: int
    output: str


def run_dmtf_tool(tool: str, bmc: Bmc, *args: str, wall_s: float = 180) -> ToolRun:
    """Run a DMTF redfish-utilities console script against ``bmc`` (stdout and stderr
    together, as a user reads them)."""
    done = subprocess.run(
        [str(BIN / tool), f"--user={bmc.username}", f"--password={bmc.password}",
         f"--rhost={bmc.url}", *args],
        capture_output=True, text=True, timeout=wall_s, check=False)
    return ToolRun(done.returncode, done.stdout + done.stderr)
