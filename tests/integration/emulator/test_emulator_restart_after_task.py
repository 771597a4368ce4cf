"""An update that restarts the BMC: the finished task stays readable (before and after
the restart), the restart comes a moment after the task completes, sessions end with
it unless the OpenBMC-style option keeps them, and DMTF's rf_update.py (a
session-based poller nobody here wrote) exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from emulator.audit import read_audit_log
from tests.integration.emulator.conftest import (
    http,
    refuses_connections,
    versions,
    wait_until,
)

SIMPLE_UPDATE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
SESSIONS = "/redfish/v1/SessionService/Sessions"
RF_UPDATE = Path(sys.executable).parent / "rf_update.py"


def _login(node: dict[str, str]) -> tuple[str, str]:
    """(X-Auth-Token, session URI) of a new session."""
    response = requests.post(node["url"] + SESSIONS, timeout=10, json={
        "UserName": node["username"], "Password": node["password"]})
    assert response.status_code == 201
    return response.headers["X-Auth-Token"], response.headers["Location"]


def _start_bmc_update(node: dict[str, str], url: str) -> str:
    response = http(node).post(node["url"] + SIMPLE_UPDATE,
                               json={"ImageURI": url, "Targets": ["/redfish/v1/Managers/1"]})
    assert response.status_code == 202
    return str(response.headers["Location"])


def test_finished_task_is_readable_before_the_bmc_goes_down_and_after_it_is_back(
    cluster_factory: Any, small_bundle_url: Any
) -> None:
    # Nobody reads the task here, so the BMC waits the whole restart delay.
    cluster = cluster_factory(bmc_restart_delay_seconds=3.0)
    node = cluster.inventory[0]
    url, _served, _path = small_bundle_url
    monitor = _start_bmc_update(node, url)
    bmc = cluster.bmc(node["id"])
    wait_until(lambda: bmc.tasks.get("1") is not None and bmc.tasks.get("1").finished)
    # Completed, and the BMC still answers: the restart is not in the same instant.
    finished = http(node).get(node["url"] + monitor)
    assert finished.status_code == 200 and finished.json()["TaskState"] == "Completed"
    assert not refuses_connections(node["url"])
    wait_until(lambda: refuses_connections(node["url"]), timeout_s=10)
    wait_until(lambda: versions(node)["BMC"] == "2.0.0", timeout_s=20)
    # Back with the new firmware: the task is still there, with its messages.
    task = http(node).get(node["url"] + "/redfish/v1/TaskService/Tasks/1").json()
    assert task["TaskState"] == "Completed" and task["PercentComplete"] == 100
    ids = [m["MessageId"].rsplit(".", 1)[1] for m in task["Messages"]]
    assert "UpdateSuccessful" in ids
    records = list(read_audit_log(cluster.audit_log_path))
    assert [r["event"] for r in records].count("bmc_restart") == 1


def test_sessions_end_with_a_bmc_restart_by_default(
    cluster: Any, node: dict[str, str]
) -> None:
    token, _location = _login(node)
    assert http(node).post(node["url"] + "/redfish/v1/Managers/1/Actions/Manager.Reset",
                           json={"ResetType": "ForceRestart"}).status_code == 204
    wait_until(lambda: refuses_connections(node["url"]), timeout_s=10)
    wait_until(lambda: requests.get(node["url"] + "/redfish/v1", timeout=2).status_code == 200)
    after = requests.get(node["url"] + "/redfish/v1/Systems/1", timeout=10,
                         headers={"X-Auth-Token": token})
    assert after.status_code == 401


def test_sessions_survive_a_bmc_restart_when_configured(cluster_factory: Any) -> None:
    cluster = cluster_factory(sessions_survive_restart=True)
    node = cluster.inventory[0]
    token, location = _login(node)
    headers = {"X-Auth-Token": token}
    assert requests.post(node["url"] + "/redfish/v1/Managers/1/Actions/Manager.Reset",
                         json={"ResetType": "GracefulRestart"}, headers=headers,
                         timeout=10).status_code == 204
    wait_until(lambda: refuses_connections(node["url"]), timeout_s=10)
    wait_until(lambda: requests.get(node["url"] + "/redfish/v1", timeout=2).status_code == 200)
    after = requests.get(node["url"] + "/redfish/v1/Systems/1", headers=headers, timeout=10)
    assert after.status_code == 200 and after.json()["Id"] == "1"
    assert requests.delete(node["url"] + location, headers=headers,
                           timeout=10).status_code == 204


def _rf_update(node: dict[str, str], image: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # --opt=value: a random password may start with "-".
        [sys.executable, str(RF_UPDATE), f"--user={node['username']}",
         f"--password={node['password']}", f"--rhost={node['url']}", f"--image={image}"],
        cwd=cwd, capture_output=True, text=True, timeout=240, check=False)


def test_dmtf_rf_update_exits_0_after_a_bmc_update_by_multipart_push(
    cluster: Any, node: dict[str, str], small_bundle_url: Any, tmp_path: Path
) -> None:
    _url, _served, path = small_bundle_url
    result = _rf_update(node, str(path), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Task is Done!" in result.stdout
    # It logged out before the restart and the versions really changed.
    wait_until(lambda: versions(node) == {"BMC": "2.0.0", "BIOS": "1.5.0", "NIC": "7.1"},
               timeout_s=30)
    events = [r["event"] for r in read_audit_log(cluster.audit_log_path)]
    assert "bmc_restart" in events


def test_dmtf_rf_update_exits_0_after_a_bmc_update_by_simple_update(
    cluster: Any, node: dict[str, str], small_bundle_url: Any, tmp_path: Path
) -> None:
    url, _served, _path = small_bundle_url
    result = _rf_update(node, url, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(lambda: versions(node)["BMC"] == "2.0.0", timeout_s=30)
