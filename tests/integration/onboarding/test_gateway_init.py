"""`fleetflash gateway init DIR` then `gateway serve --config DIR/gateway.toml`, as an
operator runs them: the API answers over the new certificate with the printed token,
SIGTERM stops it with exit 0, and a second init never overwrites the first."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import REPO_ROOT
from tests.integration.intake.gatewaykit import free_port
from tests.support.waiting import wait_until

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.cli", *args], cwd=REPO_ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)


def test_init_then_serve_answers_the_api_with_the_printed_token(tmp_path: Path) -> None:
    directory = tmp_path / "gw"
    api, listener, media = free_port(), free_port(), free_port()
    done = _cli("gateway", "init", str(directory), "--api", f"127.0.0.1:{api}",
                "--listener", f"127.0.0.1:{listener}", "--media", f"127.0.0.1:{media}",
                "--host-name", "127.0.0.1")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("ff_") and "\n" not in token
    assert (directory / "state").is_dir()
    assert (directory / "tls" / "gateway.key").stat().st_mode & 0o077 == 0
    text = (directory / "gateway.toml").read_text()
    assert text.count("\n#") > 10  # commented for the operator

    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "lab.cli", "gateway", "serve", "--config",
             str(directory / "gateway.toml")], cwd=REPO_ROOT, env=ENV, stdout=sink,
            stderr=subprocess.STDOUT)
    try:
        cert = directory / "tls" / "gateway.crt"
        url = f"https://127.0.0.1:{api}/api/images"

        def answered() -> requests.Response | None:
            assert process.poll() is None, log.read_text()
            return requests.get(url, headers={"Authorization": f"Bearer {token}"},
                                verify=str(cert), timeout=5)

        response = wait_until(answered, 60, ignoring=(requests.ConnectionError,),
                              describe=log.read_text)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
        refused = requests.get(url, headers={"Authorization": "Bearer ff_wrong"},
                               verify=str(cert), timeout=5)
        assert refused.status_code == 401
        # The CIM listener speaks TLS with the same certificate.
        context = ssl.create_default_context(cafile=str(cert))
        import socket
        with socket.create_connection(("127.0.0.1", listener), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() is not None
    finally:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=90)
    assert status == 0, log.read_text()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_init_refuses_to_overwrite_and_checks_operator_cert(tmp_path: Path) -> None:
    directory = tmp_path / "gw"
    assert _cli("gateway", "init", str(directory)).returncode == 0
    before = (directory / "gateway.toml").read_bytes()
    again = _cli("gateway", "init", str(directory))
    assert again.returncode != 0 and "already exists" in again.stderr
    assert (directory / "gateway.toml").read_bytes() == before
    assert "Traceback" not in again.stderr

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("not a certificate")
    key.write_text("nope")
    bad = _cli("gateway", "init", str(tmp_path / "other"), "--cert", str(cert),
               "--key", str(key))
    assert bad.returncode != 0 and "not a readable PEM certificate" in bad.stderr
    assert not (tmp_path / "other").exists()  # nothing half-written


def test_init_uses_the_operators_certificate(tmp_path: Path) -> None:
    from gateway.onboarding.certs import write_self_signed

    cert, key = tmp_path / "own.crt", tmp_path / "own.key"
    fingerprint = write_self_signed(cert, key, ["gw.example"])
    done = _cli("gateway", "init", str(tmp_path / "gw"), "--cert", str(cert), "--key",
                str(key))
    assert done.returncode == 0, done.stderr
    assert fingerprint in done.stderr
    assert (tmp_path / "gw" / "tls" / "gateway.crt").read_bytes() == cert.read_bytes()
