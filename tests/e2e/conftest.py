"""Fixtures for the lab's end-to-end tests: the real `fleetflash` CLI in subprocesses,
each lab in its own work directory, always taken down at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator.audit import read_audit_log
from gateway.api.client import ApiClient
from lab.lab_state import LabState, read_state
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "unit" / "lab" / "fixtures"
TOPOLOGIES = REPO_ROOT / "lab" / "topologies"
# How the lab tests wait (tests.support.waiting.wait_until): a whole lab gets two minutes,
# and its API is asked a few times a second, not twenty.
LAB_WAIT_S = 120.0
LAB_POLL_S = 0.3


def fleetflash(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run `fleetflash ARGS` as a user would (a new process, from the repository)."""
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "160"})


@dataclass
class RunningLab:
    """A lab brought up with `fleetflash lab up`."""

    state_file: Path
    workdir: Path

    @property
    def state(self) -> LabState:
        return read_state(self.state_file)

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.state_file.read_text())

    def api(self) -> ApiClient:
        return ApiClient(self.state.api_url, self.state.api_token, timeout=10)

    def campaigns(self) -> dict[str, dict[str, Any]]:
        """Campaign id -> its detail (waves, counts, state)."""
        client = self.api()
        return {item["id"]: client.get(f"/api/campaigns/{item['id']}")
                for item in client.get_all("/api/campaigns")}

    def audit(self) -> list[dict[str, Any]]:
        return list(read_audit_log(self.state.audit_log))

    def steps(self) -> dict[str, str]:
        """Node -> step in its campaign."""
        return {node["node_id"]: node["step"] for campaign in self.campaigns().values()
                for wave in campaign["waves"] for node in wave["nodes"]}


LabFactory = Callable[..., RunningLab]  # (topology path, *extra `lab up` options)


@pytest.fixture
def lab_up(tmp_path: Path) -> Iterator[LabFactory]:
    """`lab_up(topology_path)` runs `fleetflash lab up`; every lab is taken down after."""
    started: list[RunningLab] = []

    def start(topology: Path, *options: str) -> RunningLab:
        lab = RunningLab(tmp_path / f"state-{len(started)}.json",
                         tmp_path / f"lab-{len(started)}")
        started.append(lab)
        result = fleetflash("lab", "up", str(topology), "--state-file", str(lab.state_file),
                            "--workdir", str(lab.workdir), *options)
        assert result.returncode == 0, result.stdout + result.stderr
        return lab

    yield start
    for lab in started:
        if lab.state_file.exists():
            fleetflash("lab", "down", "--state-file", str(lab.state_file))
