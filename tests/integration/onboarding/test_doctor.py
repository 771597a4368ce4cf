"""`fleetflash doctor` against real loopback BMCs (the emulator), a real SQLite file and
real ports: one line per check with its fix, exit 1 when a rollout is blocked."""

from __future__ import annotations

import email.utils
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from gateway.onboarding.doctor import FAIL, OK, WARN, _skew, run_doctor
from tests.conftest import REPO_ROOT, TestKeys
from tests.integration.orchestrator.rig import TEST_MODEL, write_gateway_config

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _findings(config: Path) -> dict[str, tuple[str, str]]:
    return {f.check: (f.status, f.line()) for f in run_doctor(config, bmc_timeout=5)}


def test_doctor_reports_each_bmc_and_blocks_on_the_broken_ones(
        tmp_path: Path, test_keys: TestKeys) -> None:
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL) for _ in range(2)]) as emulated:
        good, bad = emulated.inventory
        with socket.socket() as closed:  # a port nothing listens on
            closed.bind(("127.0.0.1", 0))
            dead_port = closed.getsockname()[1]
        bmcs = [good, {**bad, "password": "wrong"},
                {"id": "gone", "url": f"http://127.0.0.1:{dead_port}", "username": "u",
                 "password": "p"}]
        config = write_gateway_config(
            tmp_path, publisher_prefix="http://127.0.0.1:9/", trusted_key=test_keys.public,
            bmcs=bmcs, group_of=lambda _n: "all", groups={"all": 1})
        findings = _findings(config)
        assert findings["config"][0] == OK
        assert findings["database"][0] == OK and "created at first start" in \
            findings["database"][1]
        assert findings["trusted keys acme"][0] == OK
        assert all(status == OK for check, (status, _l) in findings.items()
                   if check.startswith("port "))
        status, line = findings[f"bmc {good['id']}"]
        assert status == OK, findings
        assert good["serial"] in line and "msc" in line and "FirmwareInventory" in line
        # The emulator's Date header: its clock is this host's, so no skew.
        status, line = findings[f"bmc {good['id']} clock"]
        assert status == OK and line.endswith("s from this host"), line
        status, line = findings[f"bmc {bad['id']}"]
        assert status == FAIL and "refused (401)" in line and "fix:" in line
        status, line = findings["bmc gone"]
        assert status == FAIL and "unreachable" in line and "fix:" in line

        # As a command: one line per check, exit 1.
        done = subprocess.run([sys.executable, "-m", "lab.cli", "doctor", "--config",
                               str(config), "--bmc-timeout", "5"], cwd=REPO_ROOT, env=ENV,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert "2 problem(s) block a rollout" in done.stderr
        assert "Traceback" not in done.stderr + done.stdout

        # A port already taken is a blocking finding naming it.
        listener = config.read_text().split('[listener]\nhttp = "')[1].split('"')[0]
        host, port = listener.rsplit(":", 1)
        with socket.socket() as holder:
            holder.bind((host, int(port)))
            holder.listen()
            status, line = _findings(config)["port listener.http"]
        assert status == FAIL and "in use" in line

        # Only the good BMC: nothing blocks.
        config = write_gateway_config(
            tmp_path, publisher_prefix="http://127.0.0.1:9/", trusted_key=test_keys.public,
            bmcs=[good], group_of=lambda _n: "all", groups={"all": 1})
        assert not [f for f in run_doctor(config, bmc_timeout=5) if f.status == FAIL]


def test_doctor_on_a_bad_config_says_why(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text("[gateway]\nnmae = 'x'\n")
    [finding] = list(run_doctor(config))
    assert finding.status == FAIL
    assert "gateway: unknown key 'nmae' (did you mean 'name'?)" in finding.line()


def test_clock_skew_read_from_a_real_servers_date_header(tmp_path: Path,
                                                         test_keys: TestKeys) -> None:
    skew_s = 3 * 3600

    class Skewed(http.server.BaseHTTPRequestHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            return email.utils.formatdate(time.time() + skew_s, usegmt=True)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Skewed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        config = write_gateway_config(
            tmp_path, publisher_prefix="http://127.0.0.1:9/", trusted_key=test_keys.public,
            bmcs=[{"id": "skewed", "url": f"http://127.0.0.1:{server.server_port}",
                   "username": "u", "password": "p"}],
            group_of=lambda _n: "all", groups={"all": 1})
        findings = _findings(config)
    finally:
        server.shutdown()
        server.server_close()
    status, line = findings["bmc skewed clock"]
    assert status == WARN and "+10800 s" in line.replace("+10799 s", "+10800 s")
    status, line = findings["bmc skewed"]
    assert status == FAIL and "answered 503" in line


def test_clock_skew_from_the_date_header() -> None:
    assert _skew("bmc x", "Sun, 06 Dec 2026 06:00:00 GMT",
                 now=lambda: 1796536800.0 + 3600).status == WARN
    assert _skew("bmc x", "Sun, 06 Dec 2026 06:00:00 GMT",
                 now=lambda: 1796536800.0 + 5).status == OK
    assert _skew("bmc x", None).status == WARN
    assert _skew("bmc x", "garbage").status == WARN
