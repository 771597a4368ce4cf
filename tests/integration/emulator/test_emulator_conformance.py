"""The DMTF Redfish Service Validator, offline against one emulated BMC: 0 FAIL.

The BMC is exercised first (a finished update task with messages, a session,
an extra account, an event subscription, inserted media) so the validator
walks those resources too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulator.quirks import parse_quirks
from tests.integration.emulator.conftest import http, make_nodes, wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_REDFISH = REPO_ROOT.parent / "shared" / "redfish"


def _validator() -> str | None:
    beside_python = Path(sys.executable).parent / "rf_service_validator"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("rf_service_validator")


def _exercise(node: dict[str, str], bundle_url: str) -> None:
    session = http(node)
    base = node["url"]
    response = session.post(base + "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                            json={"ImageURI": bundle_url, "Targets": ["/redfish/v1/Systems/1"]})
    monitor = response.headers["Location"]
    wait_until(lambda: session.get(base + monitor).status_code == 200)
    session.post(base + "/redfish/v1/SessionService/Sessions",
                 json={"UserName": node["username"], "Password": node["password"]})
    session.post(base + "/redfish/v1/AccountService/Accounts",
                 json={"UserName": "auditor", "Password": "auditor-pass-1", "RoleId": "ReadOnly"})
    session.post(base + "/redfish/v1/EventService/Subscriptions",
                 json={"Destination": "http://127.0.0.1:9/events", "Context": "validator",
                       "RegistryPrefixes": ["TaskEvent"]})
    session.post(base + "/redfish/v1/Managers/1/VirtualMedia/CD/Actions/VirtualMedia.InsertMedia",
                 json={"Image": bundle_url})


def test_service_validator_reports_no_failures(
    cluster: Any, node: dict[str, str], small_bundle_url: Any, tmp_path: Path
) -> None:
    url, _served, _path = small_bundle_url
    _exercise(node, url)
    output = _validate(node, tmp_path)
    assert "Validating /redfish/v1/TaskService/Tasks/1" in output
    assert "Validating /redfish/v1/EventService/Subscriptions/1" in output


def test_a_bmc_moving_updates_to_jobs_follows_the_job_schema(
    cluster_factory: Any, small_bundle_url: Any, tmp_path: Path
) -> None:
    """job-instead-of-task (emulator/quirks.py): JobService, Jobs and the Job validate."""
    node = cluster_factory(nodes=make_nodes(1, quirks=parse_quirks(["job-instead-of-task"])
                                            )).inventory[0]
    _exercise(node, small_bundle_url[0])
    output = _validate(node, tmp_path)
    assert "Validating /redfish/v1/JobService/Jobs/1" in output


def _validate(node: dict[str, str], tmp_path: Path) -> str:
    """Run the validator on the node; its output, once it reported no failure."""
    if not (SHARED_REDFISH / "csdl").is_dir():
        pytest.skip(f"DMTF schemas not found at {SHARED_REDFISH / 'csdl'}")
    validator = _validator()
    if validator is None:
        pytest.skip("rf_service_validator is not installed (pip install redfish-service-validator)")
    result = subprocess.run(
        [validator, "-r", node["url"], "-u", node["username"], "-p", node["password"],
         "--authtype", "Basic", "--schema_directory", str(SHARED_REDFISH / "csdl"),
         "--logdir", str(tmp_path / "validator")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    output = result.stdout + result.stderr
    failures = [line for line in output.splitlines()
                if ("FAIL" in line or "ERROR" in line) and "Fail: 0" not in line]
    context = "\n".join(failures[:20]) or output[-3000:]
    summary = re.search(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", output)
    assert summary is not None, context
    passed, _warned, failed, _untested = (int(g) for g in summary.groups())
    assert failed == 0, context
    assert passed > 1000, context
    assert result.returncode == 0, context
    return output
