"""packaging/systemd and docs/deploy.md, tested as far as this machine allows: the unit
passes `systemd-analyze verify`, and its ExecStart (with its Environment= and the
example env file) runs a gateway made by `gateway init --state-dir` until the API
answers and SIGTERM stops it with exit 0."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT
from tests.integration.intake.gatewaykit import free_port
from tests.support.waiting import wait_until

UNIT = REPO_ROOT / "packaging" / "systemd" / "fleetflash-gateway.service"
ENV_EXAMPLE = REPO_ROOT / "packaging" / "systemd" / "gateway.env.example"
FLEETFLASH = Path(sys.executable).with_name("fleetflash")


def _unit_lines(key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in UNIT.read_text().splitlines()
            if line.startswith(f"{key}=")]


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # As installed: ExecStart pointing at an existing fleetflash.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/fleetflash/bin/fleetflash",
                                             str(FLEETFLASH)))
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                          timeout=120)
    # verify exits 0 on unknown keys, only warning: any output is a defect.
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if UNIT.name in line]
    assert done.returncode == 0 and problems == [], done.stdout + done.stderr
    for hardening in ("ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=",
                      "User=fleetflash", "CapabilityBoundingSet=", "PrivateTmp=yes"):
        assert f"\n{hardening}" in UNIT.read_text(), hardening


def test_the_units_command_runs_an_initialised_gateway(tmp_path: Path) -> None:
    etc, state = tmp_path / "etc" / "fleetflash", tmp_path / "var" / "lib" / "fleetflash"
    api = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    init = subprocess.run(
        [str(FLEETFLASH), "gateway", "init", str(etc), "--state-dir", str(state),
         "--api", f"127.0.0.1:{api}", "--listener", f"127.0.0.1:{free_port()}",
         "--media", f"127.0.0.1:{free_port()}", "--host-name", "127.0.0.1"],
        env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    token = init.stdout.strip()
    assert (state / "gateway.db").exists() and not (etc / "state").exists()
    for path in (etc, etc / "tls"):
        path.chmod(0o750)
    for path in (etc / "gateway.toml", etc / "tls" / "gateway.key"):
        path.chmod(0o640)
    shutil.copy(ENV_EXAMPLE, etc / "gateway.env")

    doctor = subprocess.run([str(FLEETFLASH), "doctor", "--config", str(etc / "gateway.toml")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "nothing blocks a rollout" in doctor.stderr

    # The service's environment: Environment= then EnvironmentFile= (systemd's order).
    service_env = dict(env)
    for assignment in _unit_lines("Environment"):
        key, _, value = assignment.partition("=")
        service_env[key] = value.replace("/etc/fleetflash", str(etc))
    for line in (etc / "gateway.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            service_env[key] = value
    [exec_start] = _unit_lines("ExecStart")
    command = re.sub(r"\$\{(\w+)\}", lambda m: service_env[m.group(1)], exec_start)
    argv = shlex.split(command.replace("/opt/fleetflash/bin/fleetflash", str(FLEETFLASH)))
    log = tmp_path / "journal.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, env=service_env, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        def answered() -> requests.Response:
            assert process.poll() is None, log.read_text()
            return requests.get(f"https://127.0.0.1:{api}/api/images", timeout=5,
                                headers={"Authorization": f"Bearer {token}"},
                                verify=str(etc / "tls" / "gateway.crt"))

        response = wait_until(answered, 60, ignoring=(requests.ConnectionError,),
                              describe=log.read_text)
        assert response.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)  # the unit's KillSignal
        status = process.wait(timeout=90)
    assert status == 0 and "Traceback" not in log.read_text(), log.read_text()
