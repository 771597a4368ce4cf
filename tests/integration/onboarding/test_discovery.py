"""Discovery end to end on loopback: emulated BMCs over HTTPS, the emulator's SSDP
responder, a web server that is not Redfish and a port that never answers. Only the
Redfish services are proposed; the CSV written imports as is, pinned."""

from __future__ import annotations

import http.server
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emulator.cluster import EmulatedCluster
from emulator.config import NodeSpec
from emulator.ssdp import SsdpResponder
from gateway.onboarding.certs import write_self_signed
from gateway.onboarding.discovery import (
    NOT_REDFISH,
    REDFISH,
    TIMEOUT,
    UNREACHABLE,
    certificate_sha256,
    parse_rules,
    probe,
    probe_urls,
    propose,
    ssdp_search,
)
from tests.conftest import REPO_ROOT
from tests.integration.orchestrator.rig import TEST_MODEL
from tests.support.gateway_toml import cluster_toml, gateway_toml, write_gateway_config

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


@contextmanager
def not_redfish(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server answering 404 to everything."""
    class Plain(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    cert, key = tmp_path / "web.crt", tmp_path / "web.key"
    write_self_signed(cert, key, ["127.0.0.1"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Plain)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel's backlog) and never says anything."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_probe_tells_redfish_from_the_rest(tmp_path: Path) -> None:
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL) for _ in range(2)],
                         tls=True) as emulated, not_redfish(tmp_path) as web, \
            silent_port() as silent:
        bmc = emulated.inventory[0]
        ports = [_port(bmc["url"]), web, silent, _closed_port()]
        urls = probe_urls(["127.0.0.1/32"], ports, "https", 16)
        found = {f.url: f for f in probe(urls, credentials=(bmc["username"], bmc["password"]),
                                         timeout=8, rate_per_s=50, pin=True)}
        redfish = found[bmc["url"]]
        assert redfish.status == REDFISH
        assert (redfish.model, redfish.serial) == (bmc["model"], bmc["serial"])
        assert redfish.firmware and redfish.vendor
        assert redfish.fingerprint == certificate_sha256(bmc["url"], 5)
        assert len(redfish.fingerprint) == 64
        assert found[f"https://127.0.0.1:{web}"].status == NOT_REDFISH
        assert found[f"https://127.0.0.1:{silent}"].status == TIMEOUT
        assert found[f"https://127.0.0.1:{ports[3]}"].status == UNREACHABLE

        rules = parse_rules({"rules": [{"field": "serial", "match": r"(.)$",
                                        "cluster": "lab", "group": "rack-{1}"}]}, "r")
        proposed = propose(redfish, rules)
        assert proposed.cluster == "lab" and proposed.group == f"rack-{bmc['serial'][-1]}"


def test_probing_is_bounded() -> None:
    import pytest

    from gateway.onboarding.errors import OnboardingError
    with pytest.raises(OnboardingError, match="holds 256 addresses; at most 100"):
        probe_urls(["10.0.0.0/24"], [443], "https", 100)
    with pytest.raises(OnboardingError, match="not an address or CIDR"):
        probe_urls(["10.0.0.300"], [443], "https", 100)
    assert probe_urls(["10.0.0.0/30"], [0], "https", 100) == ["https://10.0.0.1",
                                                               "https://10.0.0.2"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ssdp_discovery_to_import(tmp_path: Path) -> None:
    with EmulatedCluster(nodes=[NodeSpec(model=TEST_MODEL) for _ in range(2)],
                         tls=True) as emulated, \
            SsdpResponder([b["url"] + "/redfish/v1/" for b in emulated.inventory]) as ssdp:
        assert sorted(ssdp_search(target=("127.0.0.1", ssdp.port), wait_s=1)) == sorted(
            b["url"] for b in emulated.inventory)
        first = emulated.inventory[0]
        password = tmp_path / "pw"
        password.write_text(first["password"])
        rules = tmp_path / "rules.toml"
        rules.write_text('[[rules]]\nfield = "url"\nmatch = "."\ncluster = "lab"\n'
                         'group = "all"\n')
        out = tmp_path / "found.csv"
        done = subprocess.run(
            [sys.executable, "-m", "lab.cli", "bmcs", "discover", "--ssdp", "--ssdp-target",
             f"127.0.0.1:{ssdp.port}", "--ssdp-wait", "1", "--username", first["username"],
             "--password-file", str(password), "--pin", "--rules", str(rules), "--output",
             str(out)], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "2 Redfish service(s) among 2" in done.stderr
        text = out.read_text()
        assert first["serial"] in text and ",pin," in text

        config = write_gateway_config(tmp_path, gateway_toml(tmp_path / "state", name=None),
                                      cluster_toml("lab", ["all"]))
        imported = subprocess.run(
            [sys.executable, "-m", "lab.cli", "bmcs", "import", str(out), "--config",
             str(config)], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True,
            timeout=120)
        assert imported.returncode == 0, imported.stderr
        assert "2 added" in imported.stderr
