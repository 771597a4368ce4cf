"""The DMTF Redfish Interop Validator with the OCP profiles: 0 FAIL, offline, over HTTPS.

The profiles (OCP Baseline Hardware Management v1.1, OCP Service Baseline
v1.0) are vendored in ocp_profiles/. The BMC is exercised first (a host
reset, an event subscription) so its logs have entries and the validator
checks LogEntry and EventDestination too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.emulator.conftest import http, wait_until

VALIDATOR = Path(sys.executable).parent / "rf_interop_validator"
PROFILES = Path(__file__).parent / "ocp_profiles"
SUMMARY = re.compile(r"\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")


@pytest.fixture(scope="module")
def environment() -> dict[str, str]:
    # requests lets these override the validator's verify=False.
    return {k: v for k, v in os.environ.items()
            if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}


@pytest.mark.parametrize("profile", ["OCPBaselineHardwareManagement.v1_1_1.json",
                                     "OCPServiceBaseline.v1_0_0.json"])
def test_ocp_profile_reports_no_failures(cluster_factory: Any, tmp_path: Path, profile: str,
                                          environment: dict[str, str]) -> None:
    cluster = cluster_factory(tls=True)
    node = cluster.inventory[0]
    session = http(node)
    session.verify = str(cluster.tls_cert_path)
    session.trust_env = False
    base = node["url"]
    assert session.post(base + "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                        json={"ResetType": "ForceRestart"}).status_code == 204
    assert session.post(base + "/redfish/v1/EventService/Subscriptions",
                        json={"Destination": "http://127.0.0.1:9/events",
                              "Context": "interop"}).status_code == 201
    wait_until(lambda: session.get(base + "/redfish/v1/Systems/1").json()["PowerState"] == "On")
    result = subprocess.run(
        # --password=: a generated password may begin with "-" (argparse took it for an
        # option once in a whole-suite run).
        [str(VALIDATOR), f"--user={node['username']}", f"--password={node['password']}",
         "-r", base,
         "--logdir", str(tmp_path / "reports"), str(PROFILES / profile)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    summary = SUMMARY.search(output)
    assert summary is not None, output[-3000:]
    passed, _warned, failed, _untested = (int(group) for group in summary.groups())
    failures = [line for line in output.splitlines() if "FAIL" in line and "Fail: 0" not in line
                and "|" not in line]
    assert failed == 0, "\n".join(failures[:20]) or output[-3000:]
    assert passed > 150, output[-3000:]  # it really walked the service
    assert "Validating /redfish/v1/Managers/1/LogServices/Log/Entries" in output
