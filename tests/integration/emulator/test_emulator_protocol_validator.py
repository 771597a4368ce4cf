"""The DMTF Redfish Protocol Validator against one emulated BMC over HTTPS: 0 FAIL.

It checks the protocol rather than the schemas: headers (ETag, Allow, Link,
OData-Version), conditional writes with If-Match (including simultaneous
writers with one ETag), query parameters, POST to a collection's Members,
sessions and authentication. Over plain HTTP its two "HTTPS only" assertions
fail by design, so the run is over HTTPS with the emulator's own certificate.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from tests.integration.emulator.conftest import http

VALIDATOR = Path(sys.executable).parent / "rf_protocol_validator"


def test_protocol_validator_reports_no_failures(
    cluster_factory: Any, tmp_path: Path
) -> None:
    cluster = cluster_factory(tls=True)
    node = cluster.inventory[0]
    reports = tmp_path / "reports"
    # requests lets these override verify=False, which --no-cert-check relies on.
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    result = subprocess.run(
        [str(VALIDATOR), f"--user={node['username']}", f"--password={node['password']}",
         f"--rhost={node['url']}", "--no-cert-check", "--report-dir", str(reports),
         "--report-type", "tsv"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600,
        check=False)
    [report] = reports.glob("*.tsv")
    with report.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle, delimiter="\t") if len(row) > 4]
    verdicts = Counter(row[4] for row in rows)
    failures = [row[:6] for row in rows if row[4] == "FAIL"]
    assert failures == [], result.stdout[-2000:]
    assert verdicts["PASS"] > 300, verdicts  # it really ran its tests
    assert "FAIL: 0" in result.stdout


def test_protocol_rules_as_a_client_sees_them(cluster: Any, node: dict[str, str]) -> None:
    base = node["url"]
    session = http(node)
    root = session.get(base + "/redfish/v1/")
    assert "GET" in root.headers["Allow"] and "HEAD" in root.headers["Allow"]
    assert "rel=describedby" in root.headers["Link"]
    assert "ServiceRoot.v1_20_0.json" in root.headers["Link"]
    # OData-Version must be 4.0; an unsupported $ parameter is 501, naming it.
    assert session.get(base + "/redfish/v1/", headers={"OData-Version": "4.1"}).status_code == 412
    refused = session.get(base + "/redfish/v1/Systems?$top=1")
    assert refused.status_code == 501
    assert refused.json()["error"]["@Message.ExtendedInfo"][0]["MessageArgs"] == ["$top"]
    # ETag, conditional GET and If-Match on a write.
    account = session.get(base + "/redfish/v1/AccountService/Accounts/1")
    etag = account.headers["ETag"]
    assert session.get(base + "/redfish/v1/AccountService/Accounts/1",
                       headers={"If-None-Match": etag}).status_code == 304
    stale = session.patch(base + "/redfish/v1/Systems/1",
                          json={"Boot": {"BootSourceOverrideTarget": "Pxe"}},
                          headers={"If-Match": '"not-the-current-one"'})
    assert stale.status_code == 412
    assert session.get(base + "/redfish/v1/Systems/1").json()["Boot"][
        "BootSourceOverrideTarget"] == "None"  # the refused write changed nothing
    current = session.get(base + "/redfish/v1/Systems/1").headers["ETag"]
    fresh = session.patch(base + "/redfish/v1/Systems/1",
                          json={"Boot": {"BootSourceOverrideTarget": "Pxe"}},
                          headers={"If-Match": current})
    assert fresh.status_code == 200
    # POST to a collection's Members is POST to the collection.
    login = requests.post(base + "/redfish/v1/SessionService/Sessions/Members", timeout=10,
                          json={"UserName": node["username"], "Password": node["password"]})
    assert login.status_code == 201 and login.headers["X-Auth-Token"]
